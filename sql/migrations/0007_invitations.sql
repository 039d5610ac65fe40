-- Invitations: an admin adds an email that has no account yet; the invitee opens the link,
-- chooses a password, and joins the space with the invited role.
--
-- The link's token is 256-bit random and stored only as its SHA-256 digest (like API secrets).
-- The digest index is global because /invite/<token> names no space until the token is looked
-- up; under Citus this small table is a reference table. An accepted invitation keeps its row
-- (accepted_at set) so a second use of the link answers "already used"; a revoked one is deleted.
-- One pending invitation per email and space: inviting the same email again replaces its token.

CREATE TABLE invitations (
    space_id    bigint NOT NULL REFERENCES spaces (id) ON DELETE CASCADE,
    id          bigint GENERATED ALWAYS AS IDENTITY,
    email       text NOT NULL CHECK (email = lower(email) AND email LIKE '%_@_%' AND length(email) <= 254),
    role        text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    token_hash  bytea NOT NULL,
    invited_by  bigint REFERENCES users (id) ON DELETE SET NULL,
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    accepted_at timestamptz,
    PRIMARY KEY (space_id, id)
);
CREATE UNIQUE INDEX invitations_token_hash_key ON invitations (token_hash);
CREATE UNIQUE INDEX invitations_pending_email_key ON invitations (space_id, email) WHERE accepted_at IS NULL;
