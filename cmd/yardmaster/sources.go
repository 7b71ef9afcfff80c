package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/yardmaster/yardmaster/audit"
	"github.com/yardmaster/yardmaster/intake"
	"github.com/yardmaster/yardmaster/internal/app"
	"github.com/yardmaster/yardmaster/internal/apperr"
	"github.com/yardmaster/yardmaster/internal/db"
)

// cliActor is the audit actor of admin commands run on the host.
var cliActor = audit.Actor{Type: "system", ID: "cli", Name: "yardmaster CLI"}

// openRegistry opens the configured database and the secret box (the same
// ones serve uses) and returns a sources registry over them.
func (c *cli) openRegistry(ctx context.Context, cmd *cobra.Command) (*intake.Registry, *db.DB, error) {
	cfg, d, err := c.openDB(ctx, cmd)
	if err != nil {
		return nil, nil, err
	}
	box, err := app.SecretBox(cfg, nil)
	if err != nil {
		d.Close()
		return nil, nil, err
	}
	return intake.NewRegistry(d, box, c.now), d, nil
}

// fieldsError spells out every field error of an *apperr.Error (the
// generic error text names only the first).
func fieldsError(err error) error {
	e, ok := apperr.As(err)
	if !ok || len(e.Fields) < 2 {
		return err
	}
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		parts[i] = f.Field + ": " + f.Message
	}
	return fmt.Errorf("%s: %s", e.Detail, strings.Join(parts, "; "))
}

func readSecretLine(r io.Reader) (string, error) {
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil && line == "" {
		return "", fmt.Errorf("read secret from stdin: %w", err)
	}
	return strings.TrimSpace(line), nil
}

func printCreated(w io.Writer, sc *intake.SourceCreated, asJSON bool, verb string) error {
	if asJSON {
		return json.NewEncoder(w).Encode(sc)
	}
	fmt.Fprintf(w, "Source %s (%s, kind %s) %s.\n", sc.Name, sc.ID, sc.Kind, verb)
	if sc.Token != "" {
		fmt.Fprintf(w, "Token (shown once; send as Authorization: Bearer …):\n%s\n", sc.Token)
	} else {
		fmt.Fprintf(w, "Webhook URL path: %s\nSecret (shown once; configure it at the sender):\n%s\n", sc.WebhookPath, sc.Secret)
	}
	return nil
}

func newSourcesCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "sources", Short: "Register and manage event sources (webhook senders, API clients)"}

	var in intake.AddSource
	var kind string
	var secretStdin, asJSON bool
	add := &cobra.Command{
		Use: "add", Short: "Register a source; its secret or token is printed once", Args: cobra.NoArgs,
		Example: `  yardmaster sources add --name aftership-eu --kind aftership --json
  echo "$AFTERSHIP_WEBHOOK_SECRET" | yardmaster sources add --name aftership-eu --kind aftership --secret-stdin
  yardmaster sources add --name acme-3pl --kind canonical --rate-limit 50`,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := audit.WithActor(cmd.Context(), cliActor)
			reg, d, err := c.openRegistry(ctx, cmd)
			if err != nil {
				return err
			}
			defer d.Close()
			in.Kind = intake.Kind(kind)
			if secretStdin {
				if in.Secret, err = readSecretLine(c.stdin); err != nil {
					return err
				}
			}
			sc, err := reg.Add(ctx, in)
			if err != nil {
				return fieldsError(err)
			}
			return printCreated(c.stdout, sc, asJSON, "registered")
		},
	}
	add.Flags().StringVar(&in.Name, "name", "", "source name, used in the webhook URL /v1/webhooks/<name> (required)")
	add.Flags().StringVar(&kind, "kind", "", "aftership, easypost, standard (Standard Webhooks) or canonical (bearer token) (required)")
	add.Flags().Float64Var(&in.RateLimit, "rate-limit", 0, "requests per second (burst twice that); 0 = YARDMASTER_SOURCE_RATE_LIMIT")
	add.Flags().BoolVar(&secretStdin, "secret-stdin", false, "read the secret from stdin (e.g. the one AfterShip shows) instead of generating one")
	add.Flags().BoolVar(&asJSON, "json", false, "print one JSON object with id, name, kind and secret or token")
	_ = add.MarkFlagRequired("name")
	_ = add.MarkFlagRequired("kind")
	cmd.AddCommand(add)

	var listJSON bool
	list := &cobra.Command{
		Use: "list", Short: "List sources (never their secrets)", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			reg, d, err := c.openRegistry(cmd.Context(), cmd)
			if err != nil {
				return err
			}
			defer d.Close()
			srcs, err := reg.List(cmd.Context())
			if err != nil {
				return err
			}
			if listJSON {
				enc := json.NewEncoder(c.stdout)
				for _, s := range srcs {
					if err := enc.Encode(s); err != nil {
						return err
					}
				}
				return nil
			}
			tw := tabwriter.NewWriter(c.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tKIND\tSTATUS\tCREDENTIALS\tRATE\tID")
			for _, s := range srcs {
				rate := "default"
				if s.RateLimit > 0 {
					rate = fmt.Sprintf("%g/s", s.RateLimit)
				}
				creds := fmt.Sprint(len(s.Credentials))
				for _, cr := range s.Credentials {
					if cr.ExpiresAt != nil {
						creds += " (one expires " + cr.ExpiresAt.UTC().Format(time.RFC3339) + ")"
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Name, s.Kind, s.Status, creds, rate, s.ID)
			}
			return tw.Flush()
		},
	}
	list.Flags().BoolVar(&listJSON, "json", false, "print one JSON object per source")
	cmd.AddCommand(list)

	var overlap time.Duration
	var rotStdin, rotJSON bool
	rotate := &cobra.Command{
		Use: "rotate NAME", Short: "Issue a new secret or token; the old one stays valid for --overlap", Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := audit.WithActor(cmd.Context(), cliActor)
			reg, d, err := c.openRegistry(ctx, cmd)
			if err != nil {
				return err
			}
			defer d.Close()
			secret := ""
			if rotStdin {
				if secret, err = readSecretLine(c.stdin); err != nil {
					return err
				}
			}
			sc, err := reg.Rotate(ctx, args[0], overlap, secret)
			if err != nil {
				return fieldsError(err)
			}
			return printCreated(c.stdout, sc, rotJSON, "rotated (previous credential valid for "+overlap.String()+")")
		},
	}
	rotate.Flags().DurationVar(&overlap, "overlap", 24*time.Hour, "how long the current secret stays valid (0 revokes it now)")
	rotate.Flags().BoolVar(&rotStdin, "secret-stdin", false, "read the new secret from stdin instead of generating one")
	rotate.Flags().BoolVar(&rotJSON, "json", false, "print one JSON object with the new secret or token")
	cmd.AddCommand(rotate)

	for _, st := range []struct{ use, short, status string }{
		{"disable NAME", "Refuse a source's deliveries (401) until enabled again", intake.SourceDisabled},
		{"enable NAME", "Accept a disabled source's deliveries again", intake.SourceActive},
	} {
		status := st.status
		cmd.AddCommand(&cobra.Command{
			Use: st.use, Short: st.short, Args: cobra.ExactArgs(1),
			RunE: func(cmd *cobra.Command, args []string) error {
				ctx := audit.WithActor(cmd.Context(), cliActor)
				reg, d, err := c.openRegistry(ctx, cmd)
				if err != nil {
					return err
				}
				defer d.Close()
				s, err := reg.SetStatus(ctx, args[0], status)
				if err != nil {
					return err
				}
				fmt.Fprintf(c.stdout, "Source %s is %s.\n", s.Name, s.Status)
				return nil
			},
		})
	}
	return cmd
}
