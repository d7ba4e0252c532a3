"""The compose stack agrees with the code: there is no Docker engine here, so docker-compose.yaml,
the Dockerfile and deploy/ are parsed and checked against what the code reads, what the
services listen on and what the docs promise. ``${VAR}`` references are resolved with the
values of .env.example, as ``docker compose`` would with a .env copied from it."""

from __future__ import annotations

import re
import tomllib
from datetime import date
from functools import cache
from urllib.parse import urlsplit
from xml.etree import ElementTree

import psycopg
import yaml

from adtech_assets.cli.main import main
from adtech_assets.db.sql_files import CLICKHOUSE_DIR, SEEDS_DIR
from adtech_assets.settings import PROJECT_ROOT, parse_clickhouse_url

COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yaml"
DOCKERFILE = PROJECT_ROOT / "Dockerfile"
ENV_EXAMPLE = PROJECT_ROOT / ".env.example"
DEPLOY = PROJECT_ROOT / "deploy"
DOCS = PROJECT_ROOT / "docs" / "deployment.md"

CODE_LOCATION = "code-location"
# ADTECH_* variables the code reads that the stack deliberately leaves unset, and why.
NOT_SET_IN_THE_STACK = {
    "ADTECH_DATA_DIR": "only the embedded engines keep data on disk; the stack uses servers",
    "ADTECH_CLICKHOUSE_CLUSTER": "the stack runs one ClickHouse node",
}
_VARIABLE = re.compile(r"(?<!\$)\$\{(\w+)(?:(:?[-?])([^}]*))?\}")


@cache
def env_example() -> dict[str, str]:
    pairs = (line.split("=", 1) for line in ENV_EXAMPLE.read_text().splitlines() if line and not line.startswith("#"))
    return {name.strip(): value.strip() for name, value in pairs}


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's interpolation: ``${VAR}``, ``${VAR:-default}``, ``${VAR:?error}``, ``$$``."""

    def value(match: re.Match) -> str:
        name, operator, argument = match.groups()
        if env.get(name):
            return env[name]
        assert operator != ":?", f"{name} is required: {argument}"
        return argument or ""

    return _VARIABLE.sub(value, text).replace("$$", "$")


@cache
def compose() -> dict:
    return yaml.safe_load(interpolate(COMPOSE_FILE.read_text(), env_example()))


def services() -> dict[str, dict]:
    return compose()["services"]


def environment(service: str) -> dict[str, str]:
    return {name: str(value) for name, value in (services()[service].get("environment") or {}).items()}


def command_text(service: dict) -> str:
    parts = [*(service.get("entrypoint") or []), *(service.get("command") or [])]
    return " ".join(parts) if isinstance(parts, list) else str(parts)


def runs(service: dict, program: str) -> bool:
    return re.search(rf"(^|[\s;]){re.escape(program)}\s", command_text(service) + " ") is not None


def is_one_shot(service: dict) -> bool:
    return service.get("restart", "no") == "no"


def adtech_variables_read_by_the_code() -> set[str]:
    names = set()
    for path in (PROJECT_ROOT / "adtech_assets").rglob("*.py"):
        names |= set(re.findall(r"[\"'](ADTECH_[A-Z_]+)[\"']", path.read_text()))
    return names


def test_every_service_has_an_image_or_a_build_and_images_are_pinned():
    for name, service in services().items():
        assert service.get("image") or service.get("build"), name
        image = service.get("image", "")
        if image and not service.get("build"):
            repository, _, tag = image.rpartition(":")
            assert repository and tag and tag != "latest", f"{name}: pin {image}"


def test_services_of_our_image_run_under_an_init_process():
    for name, service in services().items():
        if service.get("build"):
            assert service.get("init") is True, f"{name}: Dagster's subprocesses need reaping"


def test_dockerfile_is_minimal_uv_and_non_root():
    dockerfile = DOCKERFILE.read_text()
    assert "uv sync --frozen" in dockerfile
    users = re.findall(r"(?m)^USER\s+(\S+)", dockerfile)
    assert users and users[-1] not in ("root", "0"), "the image must run as a non-root user"
    # The build stage gets everything the wheel is built from (its SQL included) and installs
    # the project as a wheel; the runtime stage takes that venv, not the source tree.
    build, runtime = re.split(r"(?m)^FROM\s", dockerfile)[1:]
    copied = " ".join(re.findall(r"(?m)^COPY\s+(?!--from)(.+)$", build))
    for needed in ("pyproject.toml", "uv.lock", "README.md", "adtech_assets", CLICKHOUSE_DIR.name, SEEDS_DIR.name):
        assert needed in copied, needed
    assert "uv sync --frozen --no-editable" in build
    stage = re.match(r"\S+\s+AS\s+(\w+)", build)[1]
    assert re.search(rf"(?m)^COPY --from={stage} (\S+) \1$", runtime), "the runtime image takes the built venv"
    assert not re.search(r"(?m)^COPY\s+(?!--from).*adtech_assets", runtime), "no source tree at run time"
    copied = " ".join(re.findall(r"(?m)^COPY\s+(?!--from)(.+)$", dockerfile))
    home = re.search(r"DAGSTER_HOME=(\S+)", dockerfile)[1]
    assert f"{home}/" in copied and "deploy/dagster.yaml" in copied and "deploy/workspace.yaml" in copied


def test_env_example_covers_every_variable_of_the_compose_file():
    used = {match[0] for match in _VARIABLE.findall(COMPOSE_FILE.read_text())}
    assert used, "the compose file takes its settings from the environment"
    assert used - set(env_example()) == set(), "add these to .env.example"
    assert set(env_example()) - used == set(), "these in .env.example are used nowhere"


def test_secrets_come_only_from_the_environment():
    """No password literal in the compose file: each is a required ``${VAR:?...}``."""
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    for name, service in raw["services"].items():
        for key, value in (service.get("environment") or {}).items():
            if "PASSWORD" in key:
                assert re.fullmatch(r"\$\{\w+:\?[^}]+\}", str(value)), f"{name}.{key} must be ${{VAR:?...}}"
    assert re.search(r"(?m)^\.env$", (PROJECT_ROOT / ".dockerignore").read_text())


def test_the_code_location_gets_every_variable_the_code_reads():
    read = adtech_variables_read_by_the_code()
    assert {"ADTECH_PG_URL", "ADTECH_CLICKHOUSE_URL", "ADTECH_PARTITIONS_START"} <= read
    given = {name for name in environment(CODE_LOCATION) if name.startswith("ADTECH_")}
    assert given | set(NOT_SET_IN_THE_STACK) == read, "set it in the code location, or say why not"
    assert not given & set(NOT_SET_IN_THE_STACK)
    assert date.fromisoformat(environment(CODE_LOCATION)["ADTECH_PARTITIONS_START"])


def test_the_pipeline_connects_to_the_stack_s_servers_with_least_privilege():
    env, example = environment(CODE_LOCATION), env_example()
    source = urlsplit(env["ADTECH_PG_URL"])
    assert (source.hostname, source.port, source.path) == ("source-postgres", 5432, f"/{example['SOURCE_PG_DB']}")
    assert source.username == example["ADTECH_READER_ROLE"] != example["SOURCE_PG_USER"], "read-only role"
    assert source.password == example["ADTECH_READER_PASSWORD"]

    clickhouse = parse_clickhouse_url(env["ADTECH_CLICKHOUSE_URL"])
    assert (clickhouse.host, clickhouse.port, clickhouse.is_embedded) == ("clickhouse", 8123, False)
    users = ElementTree.parse(DEPLOY / "clickhouse" / "users.d" / "adtech.xml").getroot().find("users")
    [user] = list(users)
    assert clickhouse.username == user.tag
    assert environment("clickhouse")[user.find("password").get("from_env")] == clickhouse.password
    grants = [query.text for query in user.iter("query")]
    assert grants and all(re.search(r"\bON analytics\.\*$", grant) for grant in grants)

    # Credentials for the source and ClickHouse live in the code location only.
    for name, service in services().items():
        if name != CODE_LOCATION and not runs(service, "adtech"):
            assert not {"ADTECH_PG_URL", "ADTECH_CLICKHOUSE_URL"} & set(environment(name)), name


def test_adtech_query_has_a_read_only_profile_on_the_server_and_the_docs_name_its_user():
    """The profile the docs give `adtech query`'s user is loaded by the stack's ClickHouse and
    makes the server read-only (readonly=1, which `adtech query` itself also sets: a client that
    asked a readonly=1 user for another value would be refused); the user reads analytics only."""
    from adtech_assets.db.clickhouse.client import READ_ONLY

    path = DEPLOY / "clickhouse" / "users.d" / "adtech_query.xml"
    mounts = {volume.split(":")[0]: volume.split(":")[1] for volume in services()["clickhouse"]["volumes"]}
    assert mounts.get(f"./{path.relative_to(PROJECT_ROOT)}") == f"/etc/clickhouse-server/users.d/{path.name}"
    profiles = ElementTree.parse(path).getroot().find("profiles")
    [profile] = list(profiles)
    settings = {element.tag: element.text for element in profile}
    assert settings["readonly"] == str(READ_ONLY["readonly"]) == "1"
    assert settings["output_format_arrow_string_as_string"] == "1"  # strings, not bytes, unasked
    docs = " ".join(DOCS.read_text().split())
    assert "`adtech query` should log in as `adtech_query`" in docs
    assert f"SETTINGS PROFILE '{profile.tag}'; GRANT SELECT ON analytics.* TO adtech_query;" in docs
    assert "GRANT" not in path.read_text().replace("GRANT SELECT ON analytics.* TO adtech_query", "")


def test_adtech_commands_get_the_source_owner():
    example = env_example()
    commands = [name for name, service in services().items() if runs(service, "adtech")]
    assert {"migrate", "seed", "seeder"} <= set(commands)
    for name in commands:
        url = urlsplit(environment(name)["ADTECH_PG_URL"])
        assert (url.hostname, url.username) == ("source-postgres", example["SOURCE_PG_USER"]), name


def test_the_reader_grants_run_after_the_migrations():
    grants = services()["source-grants"]
    assert "/deploy/reader_role.sql" in command_text(grants)
    assert any(volume.startswith("./deploy/postgres/reader_role.sql:") for volume in grants["volumes"])
    assert grants["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    assert services()[CODE_LOCATION]["depends_on"]["source-grants"]["condition"] == "service_completed_successfully"


def test_dagster_services_get_the_instance_settings():
    instance_config = (DEPLOY / "dagster.yaml").read_text()
    needed = set(re.findall(r"\{env:\s*(\w+)\}", instance_config))
    assert {"DAGSTER_PG_HOST", "DAGSTER_PG_PASSWORD"} <= needed
    dagster_services = [name for name, service in services().items() if re.search(r"\bdagster", command_text(service))]
    assert {CODE_LOCATION, "webserver", "daemon", "dagster-init"} <= set(dagster_services)
    for name in dagster_services:
        assert needed <= set(environment(name)), name
        assert environment(name)["DAGSTER_PG_HOST"] in services()


def test_the_workspace_points_at_the_code_server():
    [entry] = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())["load_from"]
    grpc = entry["grpc_server"]
    code_location = services()[grpc["host"]]
    command = code_location["command"]
    assert command[:3] == ["dagster", "code-server", "start"]
    assert command[command.index("-p") + 1] == str(grpc["port"])
    assert command[command.index("-m") + 1] == tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["dagster"]["module_name"]
    assert grpc["location_name"] == tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["tool"]["dagster"]["code_location_name"]
    for name in ("webserver", "daemon"):
        command = services()[name]["command"]
        assert command[command.index("-w") + 1].endswith("/workspace.yaml"), name


def published_ports() -> dict[str, list[tuple[int, int]]]:
    ports = {}
    for name, service in services().items():
        for mapping in service.get("ports", []):
            host, container = str(mapping).rsplit(":", 1)
            ports.setdefault(name, []).append((int(host.rsplit(":", 1)[-1]), int(container)))
    return ports


def test_published_ports_are_the_ones_the_services_listen_on_and_are_documented():
    ports = published_ports()
    assert ports == {
        "source-postgres": [(5432, 5432)],
        "clickhouse": [(8123, 8123), (9000, 9000)],
        "webserver": [(3000, 3000)],
    }
    webserver = services()["webserver"]["command"]
    assert webserver[webserver.index("-p") + 1] == "3000"
    docs = DOCS.read_text()
    for service, mappings in ports.items():
        for host, _ in mappings:
            assert re.search(rf"\b{host}\b", docs), f"docs/deployment.md must name port {host} ({service})"


def test_named_volumes_are_declared_and_bind_mounts_exist():
    declared = set(compose().get("volumes") or {})
    used = set()
    for name, service in services().items():
        for volume in service.get("volumes", []):
            source = volume.split(":", 1)[0]
            if source.startswith("."):
                assert (PROJECT_ROOT / source).exists(), f"{name}: {source} is missing"
            else:
                used.add(source)
    assert used == declared


def test_stateful_services_have_healthchecks():
    declared = set(compose().get("volumes") or {})
    for name, service in services().items():
        stateful = any(volume.split(":", 1)[0] in declared for volume in service.get("volumes", []))
        long_running_server = not is_one_shot(service) and "ports" in service
        if stateful or long_running_server:
            assert service.get("healthcheck", {}).get("test"), f"{name} needs a healthcheck"


CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


def test_depends_on_conditions_reference_existing_services():
    for name, service in services().items():
        for target, spec in (service.get("depends_on") or {}).items():
            assert target in services(), f"{name} depends on unknown {target}"
            condition = spec["condition"]
            assert condition in CONDITIONS, f"{name} -> {target}: {condition}"
            if condition == "service_healthy":
                assert services()[target].get("healthcheck"), f"{target} has no healthcheck for {name}"
            if condition == "service_completed_successfully":
                assert is_one_shot(services()[target]), f"{target} never completes, {name} would wait forever"
            if not service.get("profiles"):
                assert not services()[target].get("profiles"), f"{name} always starts but {target} only in a profile"
    # Startup order exists: no cycle.
    remaining = {name: set(service.get("depends_on") or {}) for name, service in services().items()}
    while remaining:
        ready = [name for name, deps in remaining.items() if not deps & set(remaining)]
        assert ready, f"depends_on cycle among {sorted(remaining)}"
        for name in ready:
            del remaining[name]


def test_dagster_instance_and_runs_wait_for_their_storage():
    depends = services()["dagster-init"]["depends_on"]
    assert depends["dagster-postgres"]["condition"] == "service_healthy"
    assert services()["dagster-init"]["command"] == ["dagster", "instance", "migrate"]
    code_location = services()[CODE_LOCATION]["depends_on"]
    assert code_location["clickhouse"]["condition"] == "service_healthy"
    assert code_location["dagster-init"]["condition"] == "service_completed_successfully"


def impressions(pg_url: str) -> int:
    with psycopg.connect(pg_url) as conn:
        return conn.execute("SELECT count(*) FROM impressions").fetchone()[0]


def test_the_seed_runs_only_on_an_empty_source(pg_url, monkeypatch):
    """The one-off seed is `adtech seed batch --if-empty`: it seeds an empty source, once."""
    command = command_text(services()["seed"])
    assert "adtech seed batch --if-empty" in command
    monkeypatch.setenv("ADTECH_PG_URL", pg_url)
    args = ["seed", "batch", "--if-empty", "--impressions", "500", "--days", "2", "--advertisers", "2", "--campaigns", "3"]
    assert main(args) == 0
    seeded = impressions(pg_url)
    assert seeded == 500
    assert main(args) == 0
    assert impressions(pg_url) == seeded


def test_the_docs_say_how_to_run_the_stack():
    text = DOCS.read_text()
    for needed in ("docker compose", "--profile sample", ".env.example", "ADTECH_TEST_CLICKHOUSE_URL"):
        assert needed in text, needed
