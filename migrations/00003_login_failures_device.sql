-- +goose Up
-- Login throttle (internal/admin/throttle.go): rows are now reserved before
-- the password check and deleted on success; device holds the id of the
-- browser's device cookie when it presented a valid one, so failures from
-- a known browser are counted apart from everyone else's. Nullable without
-- a default: old binaries keep inserting (email, ip) rows unchanged.
SET lock_timeout = '2s';
ALTER TABLE login_failures ADD COLUMN device text;

-- +goose Down
SET lock_timeout = '2s';
ALTER TABLE login_failures DROP COLUMN device;
