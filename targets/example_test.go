package targets_test

import (
	"fmt"

	"github.com/slipway-dev/slipway/targets"
)

// An adopter's magefile.go configures the targets in an init func; the
// resolved project is what deploy -dryRun and status print first.
func ExampleConfigure() {
	p := targets.Project{Main: "./cmd/server", Migrations: "db/migrations", Name: "shop", DatabaseURL: "SHOP_DATABASE_URL"}
	targets.Configure(p) // in magefile.go: func init() { targets.Configure(...) }
	fmt.Println(p)
	fmt.Println(p.Binary())
	// Output:
	// project: main ./cmd/server, migrations db/migrations, binary bin/shop, app name shop, database URL in $SHOP_DATABASE_URL
	// bin/shop
}

// The zero Project is Slipway's own layout.
func ExampleProject_Resolved() {
	r := targets.Project{}.Resolved()
	fmt.Println(r.Main, r.Migrations, r.Name, r.DatabaseURL)
	// Output: ./cmd/app migrations app DATABASE_URL
}
