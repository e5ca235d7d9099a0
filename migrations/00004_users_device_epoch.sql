-- +goose Up
-- Device cookies (internal/admin/tokens.go) carry the account's device
-- epoch; a password change raises it, which ends every device cookie of
-- that account. A constant default adds the column without rewriting the
-- table, and cookies from before this column (no epoch) count as epoch 0.
-- Old binaries neither read nor write it.
SET lock_timeout = '2s';
ALTER TABLE users ADD COLUMN device_epoch bigint NOT NULL DEFAULT 0;

-- +goose Down
SET lock_timeout = '2s';
ALTER TABLE users DROP COLUMN device_epoch;
