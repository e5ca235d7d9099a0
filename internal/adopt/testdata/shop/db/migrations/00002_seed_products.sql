-- +goose Up
INSERT INTO products (name, price_cents) VALUES ('kettle', 2999), ('teapot', 1850), ('mug', 650);

-- +goose Down
DELETE FROM products;
