// The chat benchmark's schema for PocketBase, applied when `pocketbase serve` starts with
// `--migrationsDir bench/pocketbase/pb_migrations` (bench/compare.py does that):
// - `users` (the built-in auth collection, which already has `name`): email and password
//   login, open registration, and any signed-in user may list and view users, as every
//   EmoteChat user may list users (the default rule shows each user only themselves).
// - `messages`: conversation, sender, body and timestamps, indexed by creation time, which
//   any signed-in user may create, list and view.
// - a superuser, so that the first start does not wait on the web installer.
// - the request log off: by default PocketBase writes every request into a second SQLite
//   file, which EmoteChat does not do; a comparison with it on would flatter EmoteChat.
migrate((app) => {
  const signedIn = '@request.auth.id != ""';

  const users = app.findCollectionByNameOrId("users");
  users.createRule = "";
  users.listRule = signedIn;
  users.viewRule = signedIn;
  users.passwordAuth.enabled = true;
  users.passwordAuth.identityFields = ["email"];
  app.save(users);

  app.save(new Collection({
    type: "base",
    name: "messages",
    listRule: signedIn,
    viewRule: signedIn,
    createRule: signedIn,
    updateRule: null,
    deleteRule: null,
    fields: [
      { name: "conversation", type: "text", required: true, max: 255 },
      { name: "sender", type: "relation", collectionId: users.id, maxSelect: 1, required: true },
      { name: "body", type: "text", required: true, max: 10000 },
      { name: "created", type: "autodate", onCreate: true, onUpdate: false },
      { name: "updated", type: "autodate", onCreate: true, onUpdate: true },
    ],
    indexes: ["CREATE INDEX idx_messages_created ON messages (created)"],
  }));

  const superuser = new Record(app.findCollectionByNameOrId("_superusers"));
  superuser.set("email", "bench-admin@example.com");
  superuser.set("password", "bench-admin-password");
  app.save(superuser);

  const settings = app.settings();
  settings.logs.maxDays = 0;
  app.save(settings);
}, (app) => {
  app.delete(app.findCollectionByNameOrId("messages"));
});
