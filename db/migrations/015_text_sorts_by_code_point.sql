-- The users table's text sorts compare code points (COLLATE "C"), whatever the database's default
-- collation: the console places rows created or changed live by the same rule
-- (web/src/lib/user-rows.ts), and a linguistic collation (ICU, glibc's en_US: the `postgres`
-- image's default) orders punctuation and case otherwise, so a row would land where the next page
-- does not look. Usernames are lower case by their check; emails are compared lower-cased.
-- The same expressions are in server/src/services/users/listing.ts (`userSort`).
CREATE INDEX users_username_sort_idx ON users ((username::text COLLATE "C"), id);
CREATE INDEX users_email_sort_idx ON users ((lower(email::text) COLLATE "C"), id);
