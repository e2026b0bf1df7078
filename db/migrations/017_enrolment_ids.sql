-- Which enrolment the pending secret is: starting to set up an authenticator again (in another tab
-- or browser) replaces the pending secret, and a code for the one it replaced is then told apart
-- from a wrong code (`two_factor_setup_replaced`), so the page that showed it can say so.
ALTER TABLE user_totp ADD COLUMN pending_id uuid;
