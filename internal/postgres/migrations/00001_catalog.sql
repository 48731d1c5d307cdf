-- +goose Up
-- The catalog and the pipeline's bookkeeping. Every lookup the pipeline makes
-- has an index; the comments name the lookup.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

CREATE TABLE cycles (
    id               text PRIMARY KEY,                  -- derived from the execution name
    trigger          text NOT NULL CHECK (trigger IN ('schedule', 'manual')),
    status           text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
    dry_run          boolean NOT NULL DEFAULT false,
    max_fragrances   integer CHECK (max_fragrances >= 0),
    started_at       timestamptz NOT NULL DEFAULT now(),
    finished_at      timestamptz,
    heartbeat_at     timestamptz NOT NULL DEFAULT now(),
    lease_expires_at timestamptz,
    step_results     jsonb NOT NULL DEFAULT '{}',       -- {"detect": {...}, "import": {...}}
    step_timings     jsonb NOT NULL DEFAULT '{}',       -- {"detect": {"started_at", "finished_at", "seconds"}}
    kpis             jsonb,
    health_score     numeric(5, 2) CHECK (health_score BETWEEN 0 AND 100),
    new_fragrances   integer NOT NULL DEFAULT 0,
    failed_step      text,
    error_type       text,
    error_message    text,
    CHECK (finished_at IS NULL OR finished_at >= started_at)
);
-- At most one running cycle, across Lambdas and machines.
CREATE UNIQUE INDEX cycles_one_running ON cycles ((true)) WHERE status = 'running';
-- status, metrics and retention: the latest cycles first.
CREATE INDEX cycles_started_at ON cycles (started_at DESC);

CREATE TABLE import_runs (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cycle_id     text REFERENCES cycles (id) ON DELETE SET NULL,
    kind         text NOT NULL CHECK (kind IN ('cycle', 'manual', 'upload', 'replay')),
    source       text,
    input_ref    text,                                  -- file path or s3:// / file:// reference
    input_etag   text,                                  -- uploads are idempotent by key + ETag
    status       text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'succeeded', 'failed')),
    dry_run      boolean NOT NULL DEFAULT false,
    started_at   timestamptz NOT NULL DEFAULT now(),
    finished_at  timestamptz,
    counts       jsonb NOT NULL DEFAULT '{}',           -- per outcome
    summary      jsonb NOT NULL DEFAULT '{}',
    error        text
);
CREATE UNIQUE INDEX import_runs_object ON import_runs (input_ref, input_etag) WHERE input_etag IS NOT NULL;
CREATE INDEX import_runs_cycle ON import_runs (cycle_id);
CREATE INDEX import_runs_started_at ON import_runs (started_at DESC);

CREATE TABLE brands (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        text NOT NULL CHECK (name <> ''),
    match_key   text NOT NULL CHECK (match_key <> ''),  -- normalized name
    country     text,
    website     text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT brands_match_key UNIQUE (match_key)      -- brand resolution
);
CREATE INDEX brands_match_key_trgm ON brands USING gin (match_key gin_trgm_ops);

CREATE TABLE brand_aliases (
    alias_key   text PRIMARY KEY CHECK (alias_key <> ''), -- normalized alias -> brand
    alias       text NOT NULL,
    brand_id    bigint NOT NULL REFERENCES brands (id) ON DELETE CASCADE,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX brand_aliases_brand ON brand_aliases (brand_id);

CREATE TABLE fragrances (
    id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    brand_id              bigint NOT NULL REFERENCES brands (id),
    name                  text NOT NULL CHECK (name <> ''),     -- display name
    match_key             text NOT NULL CHECK (match_key <> ''), -- normalized brand + name + concentration + gender
    concentration         text,
    gender                text CHECK (gender IN ('men', 'women', 'unisex')),
    year                  smallint CHECK (year BETWEEN 1700 AND 2200),
    notes_top             text[] NOT NULL DEFAULT '{}',
    notes_middle          text[] NOT NULL DEFAULT '{}',
    notes_base            text[] NOT NULL DEFAULT '{}',
    accords               jsonb NOT NULL DEFAULT '[]',  -- [{"name": "woody", "weight": 0.8}]
    perfumers             text[] NOT NULL DEFAULT '{}',
    rating                numeric(3, 2) CHECK (rating BETWEEN 0 AND 5),
    votes                 integer CHECK (votes >= 0),
    url                   text,
    description           text,
    content_hash          text NOT NULL,
    created_at            timestamptz NOT NULL DEFAULT now(),
    updated_at            timestamptz NOT NULL DEFAULT now(),
    created_cycle_id      text REFERENCES cycles (id) ON DELETE SET NULL,
    created_import_run_id bigint REFERENCES import_runs (id) ON DELETE SET NULL
);
-- Exact matching by key (not unique: distinct source ids of one source may share one).
CREATE INDEX fragrances_match_key ON fragrances (match_key);
-- Fuzzy candidates by trigram.
CREATE INDEX fragrances_match_key_trgm ON fragrances USING gin (match_key gin_trgm_ops);
-- Blocking by brand; the foreign key.
CREATE INDEX fragrances_brand ON fragrances (brand_id);
-- New fragrances this cycle / this week.
CREATE INDEX fragrances_created_at ON fragrances (created_at);
CREATE INDEX fragrances_created_cycle ON fragrances (created_cycle_id);
CREATE INDEX fragrances_created_import_run ON fragrances (created_import_run_id);

CREATE TABLE source_identities (
    source        text NOT NULL CHECK (source <> ''),
    source_id     text NOT NULL CHECK (source_id <> ''),
    fragrance_id  bigint NOT NULL REFERENCES fragrances (id) ON DELETE CASCADE,
    url           text,
    first_seen_at timestamptz NOT NULL DEFAULT now(),
    last_seen_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, source_id)                      -- identity lookup
);
CREATE INDEX source_identities_fragrance ON source_identities (fragrance_id);

CREATE TABLE embeddings (
    fragrance_id  bigint NOT NULL REFERENCES fragrances (id) ON DELETE CASCADE,
    model         text NOT NULL,
    dimension     integer NOT NULL CHECK (dimension > 0),
    vector        real[] NOT NULL CHECK (cardinality(vector) = dimension),
    content_hash  text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (fragrance_id, model)
);
-- Similarity search and freshness scans by model.
CREATE INDEX embeddings_model ON embeddings (model);

CREATE TABLE source_observations (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    source       text NOT NULL,
    source_id    text NOT NULL,
    observed_at  timestamptz NOT NULL,
    cycle_id     text REFERENCES cycles (id) ON DELETE SET NULL,
    brand        text,
    name         text,
    rank         integer CHECK (rank > 0),
    votes        integer CHECK (votes >= 0),
    rating       numeric(3, 2) CHECK (rating BETWEEN 0 AND 5),
    payload      jsonb,
    CONSTRAINT source_observations_once UNIQUE (source, source_id, observed_at) -- history of one item
);
-- Retention and freshness.
CREATE INDEX source_observations_observed_at ON source_observations (observed_at);
CREATE INDEX source_observations_cycle ON source_observations (cycle_id);

CREATE TABLE quarantined_records (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    import_run_id  bigint NOT NULL REFERENCES import_runs (id) ON DELETE CASCADE,
    record_index   integer NOT NULL CHECK (record_index > 0),
    line           integer,
    source         text,
    source_id      text,
    rule           text NOT NULL,
    field          text,
    reason         text NOT NULL,
    excerpt        text,
    record         jsonb,                                -- the record as read, for replay
    status         text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'replayed', 'discarded')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    resolved_at    timestamptz,
    CONSTRAINT quarantined_records_once UNIQUE (import_run_id, record_index)
);
-- quarantine list, replay and retention of resolved rows.
CREATE INDEX quarantined_records_status ON quarantined_records (status, created_at);

CREATE TABLE review_queue (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    import_run_id  bigint REFERENCES import_runs (id) ON DELETE SET NULL,
    fragrance_id   bigint NOT NULL REFERENCES fragrances (id) ON DELETE CASCADE, -- the catalog candidate
    candidate      jsonb NOT NULL,                       -- the incoming record
    score          real NOT NULL CHECK (score BETWEEN 0 AND 1),
    reasons        jsonb NOT NULL DEFAULT '[]',
    status         text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'accepted', 'rejected')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    resolved_at    timestamptz,
    resolved_by    text
);
CREATE INDEX review_queue_status ON review_queue (status, created_at);
CREATE INDEX review_queue_fragrance ON review_queue (fragrance_id);
CREATE INDEX review_queue_import_run ON review_queue (import_run_id);

CREATE TABLE merge_log (
    id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    import_run_id     bigint REFERENCES import_runs (id) ON DELETE SET NULL,
    fragrance_id      bigint NOT NULL REFERENCES fragrances (id) ON DELETE CASCADE, -- the survivor
    merged_source     text,
    merged_source_id  text,
    merged_record     jsonb NOT NULL,                    -- the record merged in
    replaced          jsonb NOT NULL DEFAULT '{}',       -- field -> value before the merge
    score             real CHECK (score BETWEEN 0 AND 1),
    reason            text NOT NULL,
    created_at        timestamptz NOT NULL DEFAULT now(),
    undone_at         timestamptz
);
CREATE INDEX merge_log_fragrance ON merge_log (fragrance_id);
CREATE INDEX merge_log_import_run ON merge_log (import_run_id);

CREATE TABLE notifications (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    cycle_id    text REFERENCES cycles (id) ON DELETE SET NULL,
    kind        text NOT NULL CHECK (kind IN ('weekly_report', 'new_fragrance', 'performance_warning', 'error', 'health_failure', 'test')),
    dedupe_key  text NOT NULL,                           -- recorded before sending: a retried send is one message
    recipients  text[] NOT NULL,
    subject     text NOT NULL,
    status      text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'sent', 'failed')),
    message_id  text,                                    -- SES message id or outbox path
    error       text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz,
    CONSTRAINT notifications_dedupe UNIQUE (dedupe_key)
);
CREATE INDEX notifications_cycle ON notifications (cycle_id);
CREATE INDEX notifications_created_at ON notifications (created_at);

-- Small operator flags stored in the database (e.g. monitoring_enabled locally).
CREATE TABLE pipeline_settings (
    key         text PRIMARY KEY,
    value       jsonb NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE pipeline_settings;
DROP TABLE notifications;
DROP TABLE merge_log;
DROP TABLE review_queue;
DROP TABLE quarantined_records;
DROP TABLE source_observations;
DROP TABLE embeddings;
DROP TABLE source_identities;
DROP TABLE fragrances;
DROP TABLE brand_aliases;
DROP TABLE brands;
DROP TABLE import_runs;
DROP TABLE cycles;
