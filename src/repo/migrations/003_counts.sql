-- Version 3: the users total kept by triggers, and unread counts answered from an index.

CREATE TABLE user_count (n INTEGER NOT NULL);
INSERT INTO user_count (n) SELECT count(*) FROM users;
CREATE TRIGGER user_count_up AFTER INSERT ON users BEGIN
    UPDATE user_count SET n = n + 1;
END;
CREATE TRIGGER user_count_down AFTER DELETE ON users BEGIN
    UPDATE user_count SET n = n - 1;
END;

DROP INDEX messages_by_conversation;
CREATE INDEX messages_by_conversation ON messages(conversation_id, id, sender_id, deleted_at);
