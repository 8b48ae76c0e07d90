package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/posthorn/posthorn/internal/admin"
)

func cmdTLS(ctx context.Context, env *cliEnv, args []string) error {
	return adminCommand(ctx, env, "tls", "status", `
Show the TLS certificates of the running server.
  status   each certificate: names, source (acme or file), issuer, expiry,
           the DANE 3 1 1 hash of its key, and the last renewal attempt
           with its outcome. Exit status 1 while an alarm is raised (a failed
           renewal, or a certificate close to expiry).`, args,
		func(api admin.API, sub string, rest []string) error {
			if sub != "status" {
				return usageError{fmt.Sprintf("unknown subcommand %q", sub)}
			}
			st, err := api.TLSStatus(ctx, admin.Empty{})
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(env.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAMES\tSOURCE\tISSUER\tNOT AFTER\tLAST ATTEMPT\tOUTCOME")
			for _, c := range st.Certificates {
				notAfter, attempt, outcome := "-", "-", "-"
				if !c.NotAfter.IsZero() {
					notAfter = c.NotAfter.UTC().Format(time.RFC3339)
				}
				if !c.LastAttempt.IsZero() {
					attempt = c.LastAttempt.UTC().Format(time.RFC3339)
					switch {
					case c.InProgress:
						outcome = "in progress"
					case c.LastOK:
						outcome = "ok"
					default:
						outcome = "FAILED: " + c.LastError
					}
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", strings.Join(c.Names, ","), c.Source, orDash(c.Issuer), notAfter, attempt, outcome)
			}
			if err := tw.Flush(); err != nil {
				return err
			}
			for _, c := range st.Certificates {
				if c.TLSA311 != "" {
					fmt.Fprintf(env.stdout, "TLSA 3 1 1 %s  (%s)\n", c.TLSA311, strings.Join(c.Names, ","))
				}
			}
			fmt.Fprintf(env.stdout, "renewal failures since start: %d\n", st.RenewalFailures)
			if st.Alarm {
				return fmt.Errorf("alarm: a certificate failed to renew or expires soon")
			}
			return nil
		})
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
