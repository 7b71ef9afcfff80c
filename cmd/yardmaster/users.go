package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"github.com/uptrace/bun"

	"github.com/yardmaster/yardmaster/audit"
	"github.com/yardmaster/yardmaster/internal/auth"
)

func newUsersCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "users", Short: "Manage console users"}
	var spec auth.UserSpec
	var role string
	var pwStdin bool
	add := &cobra.Command{
		Use: "add USERNAME", Short: "Add a user (password from --password-stdin, else a generated one printed once)", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			_, d, err := c.openDB(cmd.Context(), cmd)
			if err != nil {
				return err
			}
			defer d.Close()
			spec.Username, spec.Role = args[0], auth.Role(role)
			generated := false
			if pwStdin {
				line, err := bufio.NewReader(c.stdin).ReadString('\n')
				if err != nil && line == "" {
					return fmt.Errorf("read password from stdin: %w", err)
				}
				spec.Password = strings.TrimRight(line, "\r\n")
			} else {
				spec.Password, generated = auth.NewPassword(), true
				spec.MustChangePassword = true
			}
			var u auth.User
			err = d.InTx(cmd.Context(), func(ctx context.Context, tx bun.Tx) error {
				ctx = audit.WithActor(ctx, audit.Actor{Type: "system", ID: "cli", Name: "yardmaster users add"})
				var err error
				if u, err = auth.CreateUser(ctx, tx, c.now(), spec); err != nil {
					return err
				}
				_, err = audit.Append(ctx, tx, c.now(), audit.Record{Action: "user.created", SubjectType: "user", SubjectID: u.ID,
					After: map[string]any{"username": u.Username, "role": u.Role, "email": u.Email}})
				return err
			})
			if err != nil {
				return err
			}
			out := map[string]any{"id": u.ID, "username": u.Username, "role": u.Role}
			if generated {
				out["password"] = spec.Password
				out["must_change_password"] = true
			}
			return json.NewEncoder(c.stdout).Encode(out)
		},
	}
	add.Flags().StringVar(&role, "role", "", "admin, analyst, manager, account or viewer (required)")
	add.Flags().StringVar(&spec.DisplayName, "name", "", "display name")
	add.Flags().StringVar(&spec.Email, "email", "", "email address (digests)")
	add.Flags().StringVar(&spec.Team, "team", "", "team")
	add.Flags().BoolVar(&pwStdin, "password-stdin", false, "read the password from the first line of stdin")
	_ = add.MarkFlagRequired("role")
	cmd.AddCommand(add)
	cmd.AddCommand(&cobra.Command{
		Use: "list", Short: "List users", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			_, d, err := c.openDB(cmd.Context(), cmd)
			if err != nil {
				return err
			}
			defer d.Close()
			us, err := auth.ListUsers(cmd.Context(), d.Read)
			if err != nil {
				return err
			}
			enc := json.NewEncoder(c.stdout)
			for _, u := range us {
				if err := enc.Encode(u); err != nil {
					return err
				}
			}
			return nil
		},
	})
	return cmd
}
