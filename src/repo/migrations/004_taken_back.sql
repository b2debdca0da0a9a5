-- Version 4: text a sender took back is kept nowhere. Stored events that carry a message are
-- found by its id, so that editing or deleting it rewrites them; the events written before
-- this version are rewritten here, to the text their messages have now.

CREATE INDEX events_by_message ON events(json_extract(data, '$.message.id'))
    WHERE type IN ('message.created', 'message.updated');

UPDATE events SET data = json_set(data, '$.message.body', '',
        '$.message.deleted', json('true'), '$.message.reactions', json('[]'))
    WHERE type IN ('message.created', 'message.updated')
      AND json_extract(data, '$.message.id') IN
          (SELECT id FROM messages WHERE deleted_at IS NOT NULL);

-- edited_at as the API writes it: RFC 3339 in UTC with milliseconds
UPDATE events SET data = json_set(data, '$.message.body', m.body, '$.message.edited_at',
        strftime('%Y-%m-%dT%H:%M:%S', m.edited_at / 1000, 'unixepoch')
            || printf('.%03dZ', m.edited_at % 1000))
    FROM messages m
    WHERE events.type IN ('message.created', 'message.updated')
      AND m.id = json_extract(events.data, '$.message.id')
      AND m.edited_at IS NOT NULL AND m.deleted_at IS NULL;
