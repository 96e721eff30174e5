-- Alert destinations and their delivery log (issue 11, alerts).
--
-- alert_webhooks: one destination. url and secret are credentials (a Slack
-- webhook URL carries its token in the path): they are stored plainly here,
-- as the app has no key-management for data at rest yet, and are never
-- displayed (masked), logged, audited or put in a delivery's error.
-- events lists the event names it receives (fleet.AlertEvents).
--
-- alert_deliveries: one row per (event, destination), written by
-- fleet.Alerts.Emit with its job, updated by each attempt of the job
-- (internal/jobs, alerts.go). last_error is sanitised: at most the host.

-- +goose Up

CREATE TABLE alert_webhooks (
    id         bigserial PRIMARY KEY,
    name       text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    url        text NOT NULL CHECK (length(url) BETWEEN 1 AND 2000),
    format     text NOT NULL CHECK (format IN ('json', 'slack')),
    secret     text NOT NULL DEFAULT '' CHECK (length(secret) <= 200),
    events     text[] NOT NULL DEFAULT '{}',
    created_by text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE alert_deliveries (
    id         bigserial PRIMARY KEY,
    webhook_id bigint NOT NULL REFERENCES alert_webhooks (id) ON DELETE CASCADE,
    event      text NOT NULL,
    payload    jsonb NOT NULL,
    status     text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts   int NOT NULL DEFAULT 0,
    last_error text NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX alert_deliveries_webhook_idx ON alert_deliveries (webhook_id, id DESC);

-- alert_sent: the periodic check (machine.idle_running, usage.low) emits
-- once per condition: a row (event, subject, since) is claimed before
-- emitting; a usage.low row is removed when the machine is above the
-- threshold again, so the next drop alerts again.
CREATE TABLE alert_sent (
    event   text NOT NULL,
    subject text NOT NULL,
    since   timestamptz NOT NULL,
    sent_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event, subject, since)
);

-- No Down section: migrations are forward-only.
