-- Version 6: stream epochs. Each start of the server begins an epoch, a random id carried in
-- realtime event ids, so that a resume point from another database, or from a timeline a
-- restored backup no longer has, gets `resync` instead of silence.

CREATE TABLE epochs (
    seq         INTEGER PRIMARY KEY,
    id          TEXT    NOT NULL UNIQUE,
    -- the first event id handed out in this epoch: the one before the next epoch's first is
    -- the last one an id of this epoch can name
    first_event INTEGER NOT NULL
);
