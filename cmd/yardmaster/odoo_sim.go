package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/yardmaster/yardmaster/odoo/odootest"
)

// newOdooSimCmd serves the Odoo emulator for demos and manual testing.
func newOdooSimCmd(c *cli) *cobra.Command {
	var o odootest.Options
	seed := odootest.DefaultSeed
	cmd := &cobra.Command{
		Use:   "odoo-sim",
		Short: "Serve an emulated Odoo (XML-RPC, JSON-2 for --version 19) with demo data",
		Long: `Serve an emulated Odoo 16-19 over real HTTP with seeded demo data: customers,
salespeople, sales orders and deliveries with tracking numbers. Point
YARDMASTER_ODOO_* at it to try the connector without an Odoo server.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if seed.Customers < 1 && seed.Orders > 0 {
				return fmt.Errorf("--customers must be at least 1 when --orders is set")
			}
			if seed.Customers < 0 || seed.Orders < 0 || seed.Pickings < 0 || seed.Salespeople < 0 {
				return fmt.Errorf("--customers, --salespeople, --orders and --pickings must not be negative")
			}
			o.Seed = &seed
			srv, err := odootest.Start(o)
			if err != nil {
				return err
			}
			defer srv.Close()
			edition := "community"
			if o.Enterprise {
				edition = "enterprise"
			}
			protocol := "xmlrpc"
			if srv.Version() >= 19 {
				protocol = "json2"
			}
			fmt.Fprintf(c.stdout, "Odoo %d.0 %s emulator listening on %s\n", srv.Version(), edition, srv.URL())
			fmt.Fprintf(c.stdout, "database: %s\nlogin:    %s\npassword: %s\napi key:  %s\n\n", srv.DB(), srv.Login(), srv.Password(), srv.APIKey())
			d := srv.Demo()
			fmt.Fprintf(c.stdout, "demo order %s, delivery %s, tracking number %s\n\n", d.OrderName, d.PickingName, d.TrackingRef)
			fmt.Fprintf(c.stdout, "export YARDMASTER_ODOO_URL=%s\nexport YARDMASTER_ODOO_DB=%s\nexport YARDMASTER_ODOO_USER=%s\nexport YARDMASTER_ODOO_API_KEY=%s\nexport YARDMASTER_ODOO_PROTOCOL=%s\nexport YARDMASTER_ODOO_TICKET_PROJECT_ID=%d\n",
				srv.URL(), srv.DB(), srv.Login(), srv.APIKey(), protocol, d.ProjectID)
			<-cmd.Context().Done()
			fmt.Fprintln(c.stderr, "odoo-sim: stopping")
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.Addr, "addr", "127.0.0.1:8069", "listen address host:port")
	f.StringVar(&o.DB, "db", "demo", "database name")
	f.StringVar(&o.Login, "login", "admin", "login of the integration user")
	f.StringVar(&o.Password, "password", "admin", "password of the integration user")
	f.StringVar(&o.APIKey, "api-key", "", "API key (default: generated)")
	f.IntVar(&o.Version, "version", 17, "Odoo version to emulate: 16, 17, 18 or 19")
	f.BoolVar(&o.Enterprise, "enterprise", false, "report an Enterprise edition (+e)")
	f.BoolVar(&o.Helpdesk, "helpdesk", false, "install helpdesk.ticket (Enterprise Helpdesk)")
	f.IntVar(&seed.Customers, "customers", seed.Customers, "customer companies to seed")
	f.IntVar(&seed.Salespeople, "salespeople", seed.Salespeople, "salespeople to seed")
	f.IntVar(&seed.Orders, "orders", seed.Orders, "sales orders to seed")
	f.IntVar(&seed.Pickings, "pickings", seed.Pickings, "deliveries to seed")
	f.Uint64Var(&seed.Random, "seed", 1, "random seed of the demo data")
	return cmd
}
