-- Which set of recovery codes a code belongs to: each new set (two-factor sign-in turned on, a new
-- authenticator, new codes) takes the next number of one sequence, so a number is never used twice,
-- for anyone, even after two-factor sign-in was turned off and on again. A console tab showing
-- codes knows from it whether they are still the current set: new codes made in another tab
-- replace them. Sets from before this migration, and codes written by hand, are set 0.
CREATE SEQUENCE recovery_code_sets;
ALTER TABLE recovery_codes ADD COLUMN code_set bigint NOT NULL DEFAULT 0;
