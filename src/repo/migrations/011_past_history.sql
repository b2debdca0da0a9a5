-- Version 11: an ended membership keeps the `history_from` it had, so that a stream resuming
-- from inside that span still withholds what the member's history hid (an edit or reaction to
-- an older message, the preview of an older original in a reply).
ALTER TABLE past_members ADD COLUMN history_from INTEGER NOT NULL DEFAULT 0;
