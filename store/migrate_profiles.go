package store

// The profiles and access tokens migration: users get a display name and an
// index for the users query's stable order (created_at, id); personal
// access tokens get their table. Deleting a user deletes its tokens.
var profilesPostgres = []string{
	`ALTER TABLE users ADD COLUMN display_name varchar(100)`,
	`CREATE INDEX idx_users_created_at_id ON users (created_at, id)`,
	`CREATE TABLE access_tokens (
		id           varchar(36)  PRIMARY KEY,
		user_id      varchar(36)  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
		name         varchar(100) NOT NULL,
		token_hash   varchar(64)  NOT NULL,
		scopes       varchar(255) NOT NULL,
		created_at   timestamptz  NOT NULL,
		expires_at   timestamptz,
		last_used_at timestamptz,
		revoked_at   timestamptz
	)`,
	`CREATE UNIQUE INDEX idx_access_tokens_token_hash ON access_tokens (token_hash)`,
	`CREATE INDEX idx_access_tokens_user_id ON access_tokens (user_id)`,
}

// profilesSQLite is profilesPostgres in SQLite's types.
var profilesSQLite = []string{
	`ALTER TABLE users ADD COLUMN display_name varchar(100)`,
	`CREATE INDEX idx_users_created_at_id ON users (created_at, id)`,
	`CREATE TABLE access_tokens (
		id           varchar(36)  PRIMARY KEY NOT NULL,
		user_id      varchar(36)  NOT NULL REFERENCES users (id) ON DELETE CASCADE,
		name         varchar(100) NOT NULL,
		token_hash   varchar(64)  NOT NULL,
		scopes       varchar(255) NOT NULL,
		created_at   datetime     NOT NULL,
		expires_at   datetime,
		last_used_at datetime,
		revoked_at   datetime
	)`,
	`CREATE UNIQUE INDEX idx_access_tokens_token_hash ON access_tokens (token_hash)`,
	`CREATE INDEX idx_access_tokens_user_id ON access_tokens (user_id)`,
}

// dropProfiles undoes the profiles and access tokens migration.
var dropProfiles = []string{
	`DROP TABLE IF EXISTS access_tokens`,
	`DROP INDEX IF EXISTS idx_users_created_at_id`,
	`ALTER TABLE users DROP COLUMN display_name`,
}
