-- A reset link also ends when its account is deactivated, as the account's sessions and sign-ins
-- do: reactivated later, the account would otherwise take a link mailed before, which an admin who
-- deactivated it meant to stop. The same trigger, so every path that writes users keeps it.
DROP TRIGGER users_void_password_resets ON users;
CREATE TRIGGER users_void_password_resets
  AFTER UPDATE OF email, password_hash, status ON users
  FOR EACH ROW WHEN (OLD.email IS DISTINCT FROM NEW.email OR OLD.password_hash IS DISTINCT FROM NEW.password_hash
                     OR (OLD.status = 'active' AND NEW.status <> 'active'))
  EXECUTE FUNCTION roster_void_password_resets();
