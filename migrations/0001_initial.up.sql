-- The dataset: connections (the raw ClientHello and HTTP/2 preface, stored
-- once per connection), visits, and one observation per request context.
-- Derived values live in *_fingerprints tables keyed by (row, algorithm
-- version): the row's first entry is written with it, a recompute adds
-- rows, the old ones stay as history, and reads use the highest version.
--
-- Privacy by design: no column holds a client address. Identifiers are 32
-- lowercase hex digits (16 random bytes), in the C collation: byte order
-- whatever the database's locale, for the id cursor of a recompute.

CREATE TABLE connection (
    id                  text        COLLATE "C" PRIMARY KEY,
    at                  timestamptz NOT NULL,
    transport           text        NOT NULL,  -- the JA4 protocol letter: t (TCP), q (QUIC)
    alpn                text        NOT NULL DEFAULT '',
    tls_version         integer     NOT NULL,  -- negotiated, uint16
    cipher_suite        integer     NOT NULL,  -- negotiated, uint16
    hello               bytea       NOT NULL,  -- PSK identities and binders zeroed
    http2_preface       bytea,                 -- HTTP/2 only
    pseudo_header_order text[]                 -- of the first HEADERS frame, HTTP/2 only
);

CREATE TABLE connection_fingerprints (
    connection_id  text        COLLATE "C" NOT NULL REFERENCES connection (id) ON DELETE CASCADE,
    version        integer     NOT NULL,  -- the algorithm version that computed the row
    ja3            text        NOT NULL,
    ja3_hash       text        NOT NULL,
    ja3n           text        NOT NULL,
    ja3n_hash      text        NOT NULL,
    ja4            text        NOT NULL,
    ja4_r          text        NOT NULL,
    ja4_o          text        NOT NULL,
    ja4_ro         text        NOT NULL,
    peetprint      text        NOT NULL,
    peetprint_hash text        NOT NULL,
    akamai         text        NOT NULL DEFAULT '',  -- HTTP/2 only
    akamai_hash    text        NOT NULL DEFAULT '',
    computed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (connection_id, version)
);

-- Search by each hashed fingerprint.
CREATE INDEX connection_fingerprints_ja3_hash ON connection_fingerprints (ja3_hash);
CREATE INDEX connection_fingerprints_ja3n_hash ON connection_fingerprints (ja3n_hash);
CREATE INDEX connection_fingerprints_ja4 ON connection_fingerprints (ja4);
CREATE INDEX connection_fingerprints_akamai_hash ON connection_fingerprints (akamai_hash) WHERE akamai_hash <> '';
CREATE INDEX connection_fingerprints_peetprint_hash ON connection_fingerprints (peetprint_hash);

CREATE TABLE visit (
    id    text        COLLATE "C" PRIMARY KEY,
    start timestamptz NOT NULL,
    fleet boolean     NOT NULL DEFAULT false  -- from the operator's device fleet
);

CREATE INDEX visit_start ON visit (start);

CREATE TABLE observation (
    id                 text        COLLATE "C" PRIMARY KEY,
    visit_id           text        COLLATE "C" NOT NULL REFERENCES visit (id) ON DELETE CASCADE,
    connection_id      text        COLLATE "C" NOT NULL REFERENCES connection (id),
    at                 timestamptz NOT NULL,
    kind               text        NOT NULL,  -- navigate, fetch, xhr, form, websocket
    retry              boolean     NOT NULL DEFAULT false,
    http_version       text        NOT NULL,
    method             text        NOT NULL,
    path               text        NOT NULL,
    -- [{name, value, redacted, length}] in wire order; a name or value that
    -- is not UTF-8 (or holds NUL) also has its exact bytes in base64 under
    -- name_bytes / value_bytes.
    headers            jsonb       NOT NULL,
    ua_raw             text        NOT NULL DEFAULT '',
    ua_browser         text        NOT NULL DEFAULT '',
    ua_browser_version text        NOT NULL DEFAULT '',
    ua_os              text        NOT NULL DEFAULT '',
    ua_device          text        NOT NULL DEFAULT '',
    js                 jsonb                  -- the page script's values, NULL when none
);

CREATE INDEX observation_visit_id ON observation (visit_id);
CREATE INDEX observation_connection_id ON observation (connection_id);
-- The latest complete visit per User-Agent; the observations of a browser.
CREATE INDEX observation_ua_raw_at ON observation (ua_raw, at);

CREATE TABLE observation_fingerprints (
    observation_id text        COLLATE "C" NOT NULL REFERENCES observation (id) ON DELETE CASCADE,
    version        integer     NOT NULL,
    ja4h           text        NOT NULL,
    ja4h_r         text        NOT NULL,
    ja4h_ro        text        NOT NULL,
    computed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (observation_id, version)
);
