// Package mailport moves mail between an account in the store and the
// files other mail software keeps: Maildir (with Maildir++ folders) and
// mbox (mboxrd). Importer reads them into the store, Exporter writes an
// account back out; both report progress and skipped input through
// callbacks and never stop a run for one bad file or message. The formats
// and how flags map are described in docs/import-export.md.
package mailport
