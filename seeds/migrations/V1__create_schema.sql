-- The reference source schema, exactly. Later migrations may add indexes, never change columns.
CREATE TABLE advertiser (
    id serial PRIMARY KEY,
    name varchar(255) NOT NULL,
    updated_at timestamp,
    created_at timestamp DEFAULT now()
);

CREATE TABLE campaign (
    id serial PRIMARY KEY,
    name varchar(255) NOT NULL,
    bid numeric(10, 2) NOT NULL,
    budget numeric(10, 2) NOT NULL,
    start_date date,
    end_date date,
    advertiser_id integer REFERENCES advertiser (id),
    updated_at timestamp,
    created_at timestamp DEFAULT now()
);

CREATE TABLE impressions (
    id serial PRIMARY KEY,
    campaign_id integer REFERENCES campaign (id),
    created_at timestamp DEFAULT now()
);

CREATE TABLE clicks (
    id serial PRIMARY KEY,
    campaign_id integer REFERENCES campaign (id),
    created_at timestamp DEFAULT now()
);
