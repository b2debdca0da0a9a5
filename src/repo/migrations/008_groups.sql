-- Version 8: groups that change. Owners, a per-group choice whether new members see the
-- history from before they joined, per-member mute, past memberships (so that realtime
-- delivery knows who was a member when each event happened), and blocked people.

-- whether a member who joins later sees the messages from before they joined
ALTER TABLE conversations ADD COLUMN history_visible INTEGER NOT NULL DEFAULT 1;
-- `owner`: may rename the group and add, remove and promote members.
-- `joined_event`: the id of the `member.joined` event that made them a member (0 for the
-- members a conversation was created with): they are sent the events from it on.
-- `history_from`: the newest message when they joined a group that hides its history; they
-- see the messages after it (0: all of them).
-- `muted`: the member asked not to be notified; messages still count as unread.
ALTER TABLE members ADD COLUMN owner INTEGER NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN joined_event INTEGER NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN history_from INTEGER NOT NULL DEFAULT 0;
ALTER TABLE members ADD COLUMN muted INTEGER NOT NULL DEFAULT 0;
UPDATE members SET owner = 1
 WHERE user_id = (SELECT created_by FROM conversations c
                  WHERE c.id = members.conversation_id AND c.kind = 'group');

-- Memberships that ended: a member who left or was removed is sent the events from
-- `from_event` through `to_event` (the `member.left` event that ended it) and nothing after.
-- No foreign key to conversations: the last member's span outlives a group that is gone, so
-- that their last event still reaches them.
CREATE TABLE past_members (
    conversation_id INTEGER NOT NULL,
    user_id         INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    from_event      INTEGER NOT NULL,
    to_event        INTEGER NOT NULL,
    PRIMARY KEY (conversation_id, user_id, to_event)
) WITHOUT ROWID;
CREATE INDEX past_members_by_user ON past_members(user_id, conversation_id);

-- People a user blocked: what they send in a direct conversation no longer reaches the user.
CREATE TABLE blocks (
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    blocked_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (user_id, blocked_id)
) WITHOUT ROWID;
