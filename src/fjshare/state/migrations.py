"""Numbered schema migrations for state.db; index + 1 is the ``user_version`` it produces.

A migration is an SQL script, or a function of the connection for a change SQL cannot make (a
rebuild of the search index in a new layout). Never edit a migration that has shipped: add a new one.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable

MIGRATIONS: list[str | Callable[[sqlite3.Connection], None]] = [
    # 1: the foundation.
    """
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

    -- Certificates this node knows (its own, its parent's, agencies, users, peers): the trust store.
    CREATE TABLE certificates (
        serial     TEXT PRIMARY KEY,
        kind       TEXT NOT NULL,
        code       TEXT NOT NULL,
        key_id     TEXT,
        issuer     TEXT NOT NULL,
        not_after  TEXT NOT NULL,
        document   TEXT NOT NULL
    );
    CREATE INDEX certificates_code ON certificates (kind, code);
    CREATE TABLE revocation_lists (issuer TEXT PRIMARY KEY, sequence INTEGER NOT NULL, document TEXT NOT NULL);

    CREATE TABLE agencies (
        code        TEXT PRIMARY KEY,            -- USCC (GB 32100)
        name        TEXT NOT NULL,
        region      TEXT NOT NULL,               -- GB/T 2260
        node        TEXT NOT NULL,               -- node that registered it (Art 41: counties via their city)
        cert_serial TEXT,
        created     TEXT NOT NULL
    );
    CREATE TABLE agency_keys (
        agency      TEXT NOT NULL REFERENCES agencies(code),
        public_key  TEXT NOT NULL,               -- OpenSSH public key line
        fingerprint TEXT NOT NULL,
        added       TEXT NOT NULL,
        PRIMARY KEY (agency, fingerprint)
    );
    CREATE TABLE users (
        name        TEXT PRIMARY KEY,
        agency      TEXT NOT NULL REFERENCES agencies(code),
        role        TEXT NOT NULL,
        is_system   INTEGER NOT NULL DEFAULT 0,  -- application system (Art 35)
        cert_serial TEXT,
        created     TEXT NOT NULL
    );

    -- The catalogue entry (DESIGN §7). Columns hold what is queried; `entry` holds every field.
    CREATE TABLE resources (
        code          TEXT PRIMARY KEY,
        agency        TEXT NOT NULL,
        name          TEXT NOT NULL,
        share_type    TEXT NOT NULL CHECK (share_type IN ('unconditional', 'conditional', 'none')),
        update_mode   TEXT NOT NULL CHECK (update_mode IN ('append', 'snapshot', 'upsert')),
        items         TEXT NOT NULL,             -- JSON list of data items
        key_items     TEXT NOT NULL DEFAULT '[]',
        legal_basis   TEXT,
        on_invalid    TEXT NOT NULL DEFAULT 'quarantine',
        status        TEXT NOT NULL DEFAULT 'published',
        revision      INTEGER NOT NULL DEFAULT 1,
        origin_node   TEXT NOT NULL,
        entry         TEXT NOT NULL,             -- JSON: every DESIGN §7 field
        created       TEXT NOT NULL,
        updated       TEXT NOT NULL
    );

    -- Outbox intake journal: seen -> packaged -> committed -> archived (or quarantined).
    CREATE TABLE intake (
        id            INTEGER PRIMARY KEY,
        source        TEXT NOT NULL,             -- path relative to HOME/outbox
        agency        TEXT NOT NULL,
        resource      TEXT NOT NULL,
        source_sha256 TEXT NOT NULL,
        size          INTEGER NOT NULL,
        bundle_id     TEXT NOT NULL,
        state         TEXT NOT NULL,
        seq           INTEGER,
        created       TEXT,
        rows          INTEGER,
        flagged       INTEGER NOT NULL DEFAULT 0, -- rows accepted with invalid identifiers (--on-invalid flag)
        flag_column   INTEGER NOT NULL DEFAULT 0, -- the Parquet part carries the _invalid column
        handler       TEXT,                      -- who supplied the file (SFTP account, user or operator)
        reason        TEXT,
        seen_at       TEXT NOT NULL,
        updated_at    TEXT NOT NULL
    );
    CREATE INDEX intake_bundle ON intake (bundle_id);
    CREATE INDEX intake_state ON intake (state);

    -- Every bundle in the store, ours and our peers'.
    CREATE TABLE bundles (
        bundle_id     TEXT PRIMARY KEY,
        kind          TEXT NOT NULL,
        origin        TEXT NOT NULL,
        channel       TEXT NOT NULL,
        seq           INTEGER NOT NULL,
        resource      TEXT,
        provider      TEXT,
        handler       TEXT,
        update_mode   TEXT,
        share_type    TEXT,
        rows          INTEGER NOT NULL DEFAULT 0,
        sealed        INTEGER NOT NULL DEFAULT 0,
        local_only    INTEGER NOT NULL DEFAULT 0,
        path          TEXT NOT NULL,             -- relative to HOME
        manifest_sha256 TEXT NOT NULL,
        created       TEXT NOT NULL,
        stored_at     TEXT NOT NULL,
        in_view       INTEGER NOT NULL DEFAULT 1, -- part of the resource's current view
        UNIQUE (origin, channel, seq)
    );
    CREATE INDEX bundles_resource ON bundles (resource, in_view);

    -- Stream heads: the highest sequence applied per (origin, channel).
    CREATE TABLE streams (
        origin    TEXT NOT NULL,
        channel   TEXT NOT NULL,
        head_seq  INTEGER NOT NULL,
        head_hash TEXT NOT NULL,
        PRIMARY KEY (origin, channel)
    );

    -- Append-only, hash-chained audit log (Art 31, 32, 36).
    CREATE TABLE audit (
        seq     INTEGER PRIMARY KEY,
        at      TEXT NOT NULL,
        actor   TEXT NOT NULL,
        action  TEXT NOT NULL,
        target  TEXT,
        detail  TEXT NOT NULL,
        prev    TEXT NOT NULL,
        hash    TEXT NOT NULL
    );
    """,
]

MIGRATIONS.append(
    # 2: federation - peers, the one outgoing queue, acknowledgements.
    """
    CREATE TABLE peers (
        code          TEXT PRIMARY KEY,          -- the peer node's division code
        role          TEXT NOT NULL,             -- 'parent' (the province, seen from a city) or 'child' (a city)
        name          TEXT NOT NULL DEFAULT '',
        ssh_key       TEXT,                      -- OpenSSH public key line of its SFTP client (children)
        fingerprint   TEXT,
        address       TEXT,                      -- HOST:PORT (parent)
        host_key_fingerprint TEXT,               -- pinned SFTP host key (parent)
        admitted      TEXT,
        last_attempt  TEXT,
        last_success  TEXT,
        last_error    TEXT,
        failures      INTEGER NOT NULL DEFAULT 0,
        next_attempt  REAL NOT NULL DEFAULT 0    -- unix time; backoff after failures
    );

    -- Every bundle waiting to reach a peer, of every kind. Other features only enqueue.
    CREATE TABLE outgoing (
        bundle_id   TEXT NOT NULL,
        peer        TEXT NOT NULL,
        kind        TEXT NOT NULL,
        channel     TEXT NOT NULL,
        origin      TEXT NOT NULL,
        seq         INTEGER NOT NULL,
        path        TEXT NOT NULL,               -- the bag, relative to HOME
        enqueued_at TEXT NOT NULL,
        sent_at     TEXT,
        acked_at    TEXT,
        attempts    INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (bundle_id, peer)
    );
    CREATE INDEX outgoing_pending ON outgoing (peer, acked_at);

    -- Bundles received from a peer that still owe it an acknowledgement.
    CREATE TABLE acks_owed (
        bundle_id TEXT NOT NULL,
        peer      TEXT NOT NULL,
        stored_at TEXT NOT NULL,
        status    TEXT NOT NULL DEFAULT 'stored',  -- stored | rejected (quarantined here, with reason)
        reason    TEXT,
        delivered_at TEXT,                         -- when the acknowledgement reached the peer
        PRIMARY KEY (bundle_id, peer)
    );

    -- Nodes entitled to a resource's data stream: subscribers and grantees (the sharing service).
    CREATE TABLE subscriptions (
        resource TEXT NOT NULL,
        node     TEXT NOT NULL,
        since    TEXT NOT NULL,
        PRIMARY KEY (resource, node)
    );

    -- Where each stored bundle came from (for forwarding and acknowledgement).
    ALTER TABLE bundles ADD COLUMN received_from TEXT
    """
)

MIGRATIONS.append(
    # 3: who uploaded each outbox file over SFTP (the bundle's handler, DESIGN §4).
    """
    CREATE TABLE uploads (
        path     TEXT PRIMARY KEY,   -- relative to HOME/outbox
        account  TEXT NOT NULL,      -- the SFTP account (the agency's code)
        at       TEXT NOT NULL
    )
    """
)

MIGRATIONS.append(
    # 4: the catalogue system (Ch.3, Art 45): full entries, review workflow, search, collection catalogue.
    """
    ALTER TABLE resources ADD COLUMN metadata_id TEXT;
    ALTER TABLE resources ADD COLUMN provider_name TEXT;
    ALTER TABLE resources ADD COLUMN region_code TEXT;
    ALTER TABLE resources ADD COLUMN topic TEXT;
    ALTER TABLE resources ADD COLUMN attribute TEXT;
    ALTER TABLE resources ADD COLUMN registrar TEXT;
    ALTER TABLE resources ADD COLUMN reviewed_at TEXT;
    ALTER TABLE resources ADD COLUMN published_at TEXT;
    ALTER TABLE resources ADD COLUMN basis_confirmed_by TEXT;
    ALTER TABLE resources ADD COLUMN basis_confirmed_at TEXT;
    ALTER TABLE resources ADD COLUMN pending TEXT;
    CREATE INDEX resources_facets ON resources (status, share_type, region_code, agency, topic);

    -- Pre-tokenised text of each entry (CJK characters and their pairs, words, codes): SQLite's
    -- tokenizers do not segment Chinese, and trigram cannot match two-character terms (人口, 婚姻).
    -- Contentless: the rowid encodes status and facet values (fjshare.catalogue.search), and
    -- catalogue_search_rows maps it to the resource code and keeps the tokens a delete needs.
    CREATE VIRTUAL TABLE catalogue_fts USING fts5(
        name_tokens, other_tokens, content = '', columnsize = 0, tokenize = 'unicode61 remove_diacritics 0'
    );
    CREATE TABLE catalogue_search_rows (
        rowid      INTEGER PRIMARY KEY,          -- = catalogue_fts rowid
        code       TEXT NOT NULL UNIQUE,         -- resources.code
        -- what a search hit shows, as indexed (reading resources would walk the entry's overflow pages)
        name       TEXT,
        abstract   TEXT,
        provider_code TEXT,
        provider_name TEXT,
        region_code TEXT,
        share_type TEXT,
        topic      TEXT,
        status     TEXT,
        tokens     BLOB NOT NULL                 -- the indexed name and other tokens (zlib), for the delete
    );
    -- Dictionary ids of the facet values packed into catalogue_fts rowids; label: the provider's name.
    CREATE TABLE catalogue_facet_values (
        facet      TEXT NOT NULL,                -- topic | region | provider
        value      TEXT NOT NULL,
        id         INTEGER NOT NULL,
        label      TEXT,
        PRIMARY KEY (facet, value),
        UNIQUE (facet, id)
    );

    -- Every workflow transition (Art 16, 18): who, when, from which state to which, with comment.
    CREATE TABLE catalogue_history (
        id        INTEGER PRIMARY KEY,
        code      TEXT NOT NULL,
        revision  INTEGER NOT NULL,
        from_state TEXT,
        to_state  TEXT NOT NULL,
        actor     TEXT NOT NULL,
        comment   TEXT,
        at        TEXT NOT NULL
    );
    CREATE INDEX catalogue_history_code ON catalogue_history (code);

    -- The collection catalogue (Art 6-8): data items each agency collects, with the basis.
    CREATE TABLE collection_items (
        id         INTEGER PRIMARY KEY,
        uid        TEXT NOT NULL UNIQUE,     -- <origin node>:<n>, the federation-wide identity
        origin_node TEXT NOT NULL,
        item       TEXT NOT NULL,
        agency     TEXT NOT NULL,
        basis      TEXT NOT NULL,
        resource   TEXT,                     -- the resource the item is shared from, if any
        status     TEXT NOT NULL,            -- declared | confirmed | adjusted | refused
        note       TEXT,
        declared_by TEXT NOT NULL,
        declared_at TEXT NOT NULL,
        decided_by TEXT,
        decided_at TEXT
    );
    CREATE INDEX collection_items_item ON collection_items (item);

    -- The other catalogues of Art 45(3): users, application systems, databases, certificates/licences.
    CREATE TABLE catalogue_other (
        kind     TEXT NOT NULL,             -- user | system | database | licence
        code     TEXT NOT NULL,
        name     TEXT NOT NULL,
        agency   TEXT,
        fields   TEXT NOT NULL,             -- JSON
        updated  TEXT NOT NULL,
        PRIMARY KEY (kind, code)
    )
    """
)

MIGRATIONS.append(
    # 5: official holidays and adjusted working days loaded by the operator (sharing deadlines, Art 25-27).
    """
    CREATE TABLE calendar_years (
        year      INTEGER PRIMARY KEY,
        holidays  TEXT NOT NULL,    -- JSON list of ISO dates off work
        workdays  TEXT NOT NULL,    -- JSON list of ISO dates worked although a weekend (调休)
        source    TEXT NOT NULL,
        loaded_at TEXT NOT NULL
    )
    """
)

MIGRATIONS.append(
    # 6: sharing requests (Art 23-27) and grants, replicated at every node involved.
    """
    CREATE TABLE requests (
        id        TEXT PRIMARY KEY,           -- <requesting node>-<n>
        version   INTEGER NOT NULL,           -- raised by every event; the higher copy wins
        state     TEXT NOT NULL,
        resource  TEXT NOT NULL,
        record    TEXT NOT NULL,              -- JSON: the whole request with its events
        updated   TEXT NOT NULL
    );
    CREATE TABLE grants (
        id         TEXT PRIMARY KEY,
        request    TEXT NOT NULL,
        agency     TEXT NOT NULL,             -- the grantee agency
        node       TEXT NOT NULL,             -- the grantee's node
        resource   TEXT NOT NULL,
        items      TEXT NOT NULL,             -- JSON list
        purpose    TEXT NOT NULL,
        mode       TEXT NOT NULL,
        until      TEXT NOT NULL,             -- last day of use (inclusive, China time)
        granted_at TEXT NOT NULL,
        revoked_at TEXT,
        revoke_reason TEXT
    );
    CREATE INDEX grants_lookup ON grants (agency, resource)
    """
)

MIGRATIONS.append(
    # 7: derived bundles made for grants: only the granted items, sealed to the grantee's node (DESIGN §5).
    """
    CREATE TABLE derived (
        grant_id   TEXT NOT NULL,
        source     TEXT NOT NULL,             -- the original bundle
        bundle_id  TEXT NOT NULL,             -- the derived bundle
        made_at    TEXT NOT NULL,
        PRIMARY KEY (grant_id, source)
    )
    """
)

MIGRATIONS.append(
    # 8: usage of shared data, reported back to the provider (Art 30).
    """
    CREATE TABLE usage (
        uid       TEXT PRIMARY KEY,           -- <using node>:<n>
        resource  TEXT NOT NULL,
        provider  TEXT NOT NULL,              -- the providing agency
        provider_node TEXT NOT NULL,
        user      TEXT NOT NULL,
        agency    TEXT,
        node      TEXT NOT NULL,
        mode      TEXT NOT NULL,              -- query | download | processing
        purpose   TEXT,
        grant_id  TEXT,
        rows      INTEGER NOT NULL,
        at        TEXT NOT NULL,
        reported  INTEGER NOT NULL DEFAULT 0  -- sent to the provider's node (or local)
    );
    CREATE INDEX usage_resource ON usage (resource, at)
    """
)

MIGRATIONS.append(
    # 9: quality and supervision (Art 9, 11, 14, 28, 37-40; DESIGN §9).
    """
    -- Rows accepted with invalid identifiers (--on-invalid flag), as the bundle's manifest says:
    -- the evaluation counts them per provider at every node the bundle reaches.
    ALTER TABLE bundles ADD COLUMN flagged INTEGER NOT NULL DEFAULT 0;

    -- A comparison of a business resource against a base resource (Art 9, 28).
    CREATE TABLE comparisons (
        id            TEXT PRIMARY KEY,       -- <node>-C<n>
        resource      TEXT NOT NULL,
        base          TEXT NOT NULL,
        key_item      TEXT NOT NULL,
        items         TEXT NOT NULL,          -- JSON list
        user          TEXT NOT NULL,
        agency        TEXT,
        node          TEXT NOT NULL,
        at            TEXT NOT NULL,
        business_rows INTEGER NOT NULL,
        missing       INTEGER NOT NULL,
        differing     INTEGER NOT NULL,
        findings      INTEGER NOT NULL,
        notices       INTEGER NOT NULL,       -- new notices sent
        result_bundle TEXT                    -- the findings, as a signed result bundle
    );

    -- Each inconsistency is a notice to the agency that supplied the row, tracked until resolved
    -- (Art 28). Copies live at the comparing node, the responsible agency's node and the province:
    -- a copy with a higher version replaces a lower one.
    CREATE TABLE inconsistencies (
        id            TEXT PRIMARY KEY,       -- <comparison>-<n>
        version       INTEGER NOT NULL,
        comparison    TEXT NOT NULL,
        fingerprint   TEXT NOT NULL,          -- resource, base, key, finding, item: the same finding found again
        resource      TEXT NOT NULL,
        base          TEXT NOT NULL,
        key_item      TEXT NOT NULL,
        key           TEXT NOT NULL,
        finding       TEXT NOT NULL,          -- missing_from_base | differs
        item          TEXT,
        value         TEXT,
        base_value    TEXT,
        agency        TEXT NOT NULL,          -- responsible: the agency that supplied the row
        handler       TEXT,                   -- ... and who handled it
        bundle        TEXT,
        agency_node   TEXT NOT NULL,
        comparer      TEXT,                   -- the comparing agency, to which the result is fed back
        comparer_node TEXT NOT NULL,
        noticed       TEXT NOT NULL,
        deadline      TEXT NOT NULL,          -- 24:00 China time of the last working day
        provisional   INTEGER NOT NULL DEFAULT 0,
        state         TEXT NOT NULL CHECK (state IN ('open', 'resolved')),
        outcome       TEXT,                   -- corrected | confirmed | base_error
        note          TEXT,
        resolved_at   TEXT,
        resolved_by   TEXT,
        unsent        INTEGER NOT NULL DEFAULT 0  -- changed here; the other parties' copies are due
    );
    CREATE INDEX inconsistencies_agency ON inconsistencies (agency, state);
    CREATE INDEX inconsistencies_open ON inconsistencies (resource, base, key_item, state);
    CREATE INDEX inconsistencies_unsent ON inconsistencies (unsent);

    -- Complaints against an agency (Art 38), handled by the provincial office; the outcome travels
    -- back to the complainant. Versioned copies, as requests.
    CREATE TABLE complaints (
        id        TEXT PRIMARY KEY,           -- <node>-K<n>
        version   INTEGER NOT NULL,
        state     TEXT NOT NULL,              -- filed | resolved
        against   TEXT NOT NULL,              -- the agency complained against
        record    TEXT NOT NULL,              -- JSON
        updated   TEXT NOT NULL
    );

    -- Findings of the digital office (Art 40 items (6)-(8), and any other item it records).
    CREATE TABLE findings (
        id        TEXT PRIMARY KEY,           -- <node>-F<n>
        agency    TEXT NOT NULL,
        item      TEXT NOT NULL,              -- Art 40 item, 1-8
        text      TEXT NOT NULL,
        node      TEXT NOT NULL,              -- the office that recorded it
        by        TEXT NOT NULL,
        at        TEXT NOT NULL
    )
    """
)


def _rebuild_catalogue_search(conn: sqlite3.Connection) -> None:
    """10: the catalogue search index in its second layout, rebuilt from ``resources``: trigrams for
    phrases, newest first in ascending rowid order, and ``catalogue_search_rows`` keyed by the
    negated index rowid, keeping the texts an entry was indexed from instead of its tokens, and of
    what a hit shows only the name and abstract (see :mod:`fjshare.catalogue.search`)."""
    from fjshare.catalogue import search  # the catalogue is not needed by the earlier migrations

    conn.execute("DROP TABLE catalogue_search_rows")
    conn.execute("""
        CREATE TABLE catalogue_search_rows (
            rowid    INTEGER PRIMARY KEY,   -- the catalogue_fts rowid, negated: new rows go at the end
            code     TEXT NOT NULL UNIQUE,  -- resources.code
            name     TEXT,                  -- what a hit shows besides what the rowid encodes
            abstract TEXT,
            texts    BLOB NOT NULL          -- the texts indexed (zlib): a contentless delete needs their tokens
        )""")
    # search.compact merges two segments of a size (FTS5's own automerge waits for four)
    conn.execute("INSERT INTO catalogue_fts (catalogue_fts, rank) VALUES ('usermerge', 2)")
    n = conn.execute("SELECT count(*) FROM resources").fetchone()[0]
    if n:
        logging.getLogger(__name__).warning("rebuilding the catalogue search index for %d entries (once, on upgrade)", n)
    search.reindex_all(conn)


MIGRATIONS.append(_rebuild_catalogue_search)
