package main

import (
	"context"
	"fmt"

	"github.com/posthorn/posthorn/internal/admin"
)

func cmdTLSRPT(ctx context.Context, env *cliEnv, args []string) error {
	return adminCommand(ctx, env, "tlsrpt", "send", `
TLS reporting (RFC 8460; docs/outbound.md).
  send          send the reports of the TLS sessions recorded so far today
                now, instead of after midnight UTC, to every policy domain
                that publishes a TLSRPT record; the next daily report covers
                the sessions after this one. Needs the running server.`, args,
		func(api admin.API, sub string, rest []string) error {
			if sub != "send" {
				return usageError{fmt.Sprintf("unknown subcommand %q", sub)}
			}
			info, err := api.SendTLSReports(ctx, admin.Empty{})
			if err != nil {
				return err
			}
			fmt.Fprintf(env.stdout, "reports sent for %d policies (see the log, svc=tlsrpt, for each report)\n", info.Policies)
			return nil
		})
}
