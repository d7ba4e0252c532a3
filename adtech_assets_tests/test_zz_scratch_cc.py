import adtech_assets_tests.test_change_capture as m
from adtech_assets_tests.test_change_capture import mode, loaded  # noqa

def test_dbg(loaded, mode, postgres, pg_url, clickhouse, capsys, monkeypatch):
    real = m.adtech_sync
    def spy(capsys, *args):
        s = real(capsys, *args)
        with capsys.disabled():
            print("\n==== sync", args, s)
        return s
    monkeypatch.setattr(m, "adtech_sync", spy)
    m.test_a_delete_whose_backend_stays_busy(loaded, mode, postgres, pg_url, clickhouse, capsys)
    with capsys.disabled():
        print("\n######## 3b")
    m.test_deletes_then_a_statistics_reset(loaded, mode, postgres, clickhouse, capsys)
