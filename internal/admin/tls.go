package admin

import (
	"context"

	"github.com/posthorn/posthorn/internal/tlsmgr"
)

// CertificateStatus reports certificates; *tlsmgr.Manager implements it.
type CertificateStatus interface {
	Status() tlsmgr.Status
}

// TLSStatus returns every certificate served, its issuer and expiry, and
// its last renewal attempt. Only a running server knows them.
func (a *Admin) TLSStatus(_ context.Context, _ Empty) (tlsmgr.Status, error) {
	if a.Certificates == nil {
		return tlsmgr.Status{}, &UserError{Msg: "no certificate status: posthorn is not running, or serves no TLS certificate"}
	}
	return a.Certificates.Status(), nil
}
