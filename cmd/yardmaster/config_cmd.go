package main

import (
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"github.com/yardmaster/yardmaster/internal/config"
)

func newConfigCmd(c *cli) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Check or document the configuration"}
	cmd.AddCommand(&cobra.Command{
		Use: "check", Short: "Validate the configuration and print it with secrets masked", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := c.config(cmd)
			if err != nil {
				return err
			}
			red := cfg.Redacted()
			keys := make([]string, 0, len(red))
			for k := range red {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				fmt.Fprintf(c.stdout, "%s=%s\n", k, red[k])
			}
			return nil
		},
	})
	cmd.AddCommand(&cobra.Command{
		Use: "reference", Short: "Print the configuration reference as a Markdown table", Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprint(c.stdout, config.Reference())
			return nil
		},
	})
	return cmd
}
