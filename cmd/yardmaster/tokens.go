package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/yardmaster/yardmaster/internal/auth"
	"github.com/yardmaster/yardmaster/web"
)

func newTokensCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "tokens", Short: "Create, list and revoke API tokens"}
	var role, name string
	var scopes []string
	var ttl time.Duration
	var asJSON bool
	create := &cobra.Command{
		Use: "create", Short: "Create an API token; the token is printed once", Args: cobra.NoArgs,
		Example: `  yardmaster tokens create --role manager --name ops-bot --json
  yardmaster tokens create --role admin --scope events:write:source=<source id>`,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, d, err := c.openDB(cmd.Context(), cmd)
			if err != nil {
				return err
			}
			defer d.Close()
			spec := auth.TokenSpec{Name: name, Role: auth.Role(role), Scopes: scopes, CreatedBy: "cli"}
			if ttl > 0 {
				exp := c.now().Add(ttl).UTC()
				spec.ExpiresAt = &exp
			}
			plain, tok, err := auth.IssueToken(cmd.Context(), d, c.now(), spec)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(c.stdout).Encode(web.NewTokenCreated(plain, tok))
			}
			fmt.Fprintf(c.stdout, "Token %s (role %s). Store it now; it is not shown again:\n%s\n", tok.ID, tok.Role, plain)
			return nil
		},
	}
	create.Flags().StringVar(&role, "role", "", "admin, analyst, manager, account or viewer (required)")
	create.Flags().StringVar(&name, "name", "", "a name to recognise the token by")
	create.Flags().StringArrayVar(&scopes, "scope", nil, "restrict the token (repeatable), e.g. events:write:source=<id>")
	create.Flags().DurationVar(&ttl, "ttl", 0, "expire after this long (e.g. 720h); default never")
	create.Flags().BoolVar(&asJSON, "json", false, "print one JSON object whose token field is the bearer token")
	_ = create.MarkFlagRequired("role")
	cmd.AddCommand(create)

	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List tokens (never their secrets)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, d, err := c.openDB(cmd.Context(), cmd)
			if err != nil {
				return err
			}
			defer d.Close()
			ts, err := auth.ListTokens(cmd.Context(), d.Read)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(c.stdout)
			for _, t := range ts {
				if err := enc.Encode(t); err != nil {
					return err
				}
			}
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "revoke ID", Short: "Revoke a token", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, d, err := c.openDB(cmd.Context(), cmd)
			if err != nil {
				return err
			}
			defer d.Close()
			if err := auth.RevokeToken(cmd.Context(), d, c.now(), args[0]); err != nil {
				return err
			}
			fmt.Fprintln(c.stdout, "revoked "+args[0])
			return nil
		},
	})
	return cmd
}
