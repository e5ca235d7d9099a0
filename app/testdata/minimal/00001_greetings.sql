-- +goose Up
CREATE TABLE greetings (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY);

-- +goose Down
DROP TABLE greetings;
