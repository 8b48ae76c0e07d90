package ctl

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/posthorn/posthorn/internal/admin"
	"github.com/posthorn/posthorn/internal/tlsmgr"
)

// Client calls a running server's admin API over its control socket.
type Client struct {
	Path string
}

var _ admin.API = (*Client)(nil)

// Dial checks that a server answers on the socket at path.
func Dial(path string) (*Client, error) {
	c, err := net.DialTimeout("unix", path, 2*time.Second)
	if err != nil {
		return nil, err
	}
	c.Close()
	return &Client{Path: path}, nil
}

// call sends one request and decodes its result into Resp.
func call[Resp any](ctx context.Context, c *Client, method string, params any) (Resp, error) {
	var zero Resp
	p, err := json.Marshal(params)
	if err != nil {
		return zero, err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", c.Path)
	if err != nil {
		return zero, fmt.Errorf("control socket: %w", err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(ioTimeout))
	b, _ := json.Marshal(request{Method: method, Params: p})
	_, werr := conn.Write(append(b, '\n'))
	// A server that refuses this peer answers before reading the
	// request: its answer explains a failed write.
	var resp response
	if err := json.NewDecoder(bufio.NewReader(conn)).Decode(&resp); err != nil {
		if werr != nil {
			return zero, fmt.Errorf("control socket: %w", werr)
		}
		return zero, fmt.Errorf("control socket: reading answer: %w", err)
	}
	if resp.Error != "" {
		if resp.UserError {
			return zero, &admin.UserError{Msg: resp.Error}
		}
		return zero, errors.New(resp.Error)
	}
	var out Resp
	if err := json.Unmarshal(resp.Result, &out); err != nil {
		return zero, fmt.Errorf("control socket: decoding answer: %w", err)
	}
	return out, nil
}

// AddDomain implements admin.API.
func (c *Client) AddDomain(ctx context.Context, r admin.DomainRequest) (admin.DomainInfo, error) {
	return call[admin.DomainInfo](ctx, c, "AddDomain", r)
}

// DeleteDomain implements admin.API.
func (c *Client) DeleteDomain(ctx context.Context, r admin.DomainRequest) (admin.Empty, error) {
	return call[admin.Empty](ctx, c, "DeleteDomain", r)
}

// ListDomains implements admin.API.
func (c *Client) ListDomains(ctx context.Context, r admin.Empty) ([]admin.DomainInfo, error) {
	return call[[]admin.DomainInfo](ctx, c, "ListDomains", r)
}

// DomainRecords implements admin.API.
func (c *Client) DomainRecords(ctx context.Context, r admin.DomainRequest) ([]admin.Record, error) {
	return call[[]admin.Record](ctx, c, "DomainRecords", r)
}

// AddUser implements admin.API.
func (c *Client) AddUser(ctx context.Context, r admin.UserRequest) (admin.UserInfo, error) {
	return call[admin.UserInfo](ctx, c, "AddUser", r)
}

// DeleteUser implements admin.API.
func (c *Client) DeleteUser(ctx context.Context, r admin.UserRequest) (admin.DeletedUser, error) {
	return call[admin.DeletedUser](ctx, c, "DeleteUser", r)
}

// SetQuota implements admin.API.
func (c *Client) SetQuota(ctx context.Context, r admin.QuotaRequest) (admin.UserInfo, error) {
	return call[admin.UserInfo](ctx, c, "SetQuota", r)
}

// SetAdminUser implements admin.API.
func (c *Client) SetAdminUser(ctx context.Context, r admin.UserRequest) (admin.UserInfo, error) {
	return call[admin.UserInfo](ctx, c, "SetAdminUser", r)
}

// AddAppPassword implements admin.API.
func (c *Client) AddAppPassword(ctx context.Context, r admin.AppPasswordRequest) (admin.AppPasswordInfo, error) {
	return call[admin.AppPasswordInfo](ctx, c, "AddAppPassword", r)
}

// ListAppPasswords implements admin.API.
func (c *Client) ListAppPasswords(ctx context.Context, r admin.UserRequest) ([]admin.AppPasswordInfo, error) {
	return call[[]admin.AppPasswordInfo](ctx, c, "ListAppPasswords", r)
}

// DeleteAppPassword implements admin.API.
func (c *Client) DeleteAppPassword(ctx context.Context, r admin.AppPasswordRequest) (admin.Empty, error) {
	return call[admin.Empty](ctx, c, "DeleteAppPassword", r)
}

// SetPassword implements admin.API.
func (c *Client) SetPassword(ctx context.Context, r admin.UserRequest) (admin.UserInfo, error) {
	return call[admin.UserInfo](ctx, c, "SetPassword", r)
}

// ListUsers implements admin.API.
func (c *Client) ListUsers(ctx context.Context, r admin.DomainRequest) ([]admin.UserInfo, error) {
	return call[[]admin.UserInfo](ctx, c, "ListUsers", r)
}

// AddAlias implements admin.API.
func (c *Client) AddAlias(ctx context.Context, r admin.AliasRequest) (admin.AliasInfo, error) {
	return call[admin.AliasInfo](ctx, c, "AddAlias", r)
}

// DeleteAlias implements admin.API.
func (c *Client) DeleteAlias(ctx context.Context, r admin.AliasRequest) (admin.Empty, error) {
	return call[admin.Empty](ctx, c, "DeleteAlias", r)
}

// ListAliases implements admin.API.
func (c *Client) ListAliases(ctx context.Context, r admin.DomainRequest) ([]admin.AliasInfo, error) {
	return call[[]admin.AliasInfo](ctx, c, "ListAliases", r)
}

// RotateDKIM implements admin.API.
func (c *Client) RotateDKIM(ctx context.Context, r admin.DomainRequest) (admin.DKIMRotation, error) {
	return call[admin.DKIMRotation](ctx, c, "RotateDKIM", r)
}

// CheckDKIMRotation implements admin.API.
func (c *Client) CheckDKIMRotation(ctx context.Context, r admin.DomainRequest) (admin.DKIMRotation, error) {
	return call[admin.DKIMRotation](ctx, c, "CheckDKIMRotation", r)
}

// ListQueue implements admin.API.
func (c *Client) ListQueue(ctx context.Context, r admin.Empty) ([]admin.QueueEntryInfo, error) {
	return call[[]admin.QueueEntryInfo](ctx, c, "ListQueue", r)
}

// ShowQueue implements admin.API.
func (c *Client) ShowQueue(ctx context.Context, r admin.QueueRequest) (admin.QueueEntryInfo, error) {
	return call[admin.QueueEntryInfo](ctx, c, "ShowQueue", r)
}

// RetryQueue implements admin.API.
func (c *Client) RetryQueue(ctx context.Context, r admin.QueueRequest) ([]admin.QueueEntryInfo, error) {
	return call[[]admin.QueueEntryInfo](ctx, c, "RetryQueue", r)
}

// HoldQueue implements admin.API.
func (c *Client) HoldQueue(ctx context.Context, r admin.QueueRequest) (admin.QueueEntryInfo, error) {
	return call[admin.QueueEntryInfo](ctx, c, "HoldQueue", r)
}

// ReleaseQueue implements admin.API.
func (c *Client) ReleaseQueue(ctx context.Context, r admin.QueueRequest) (admin.QueueEntryInfo, error) {
	return call[admin.QueueEntryInfo](ctx, c, "ReleaseQueue", r)
}

// DropQueue implements admin.API.
func (c *Client) DropQueue(ctx context.Context, r admin.QueueRequest) (admin.Empty, error) {
	return call[admin.Empty](ctx, c, "DropQueue", r)
}

// TLSStatus implements admin.API.
func (c *Client) TLSStatus(ctx context.Context, r admin.Empty) (tlsmgr.Status, error) {
	return call[tlsmgr.Status](ctx, c, "TLSStatus", r)
}

// SendTLSReports implements admin.API.
func (c *Client) SendTLSReports(ctx context.Context, r admin.Empty) (admin.TLSReportsInfo, error) {
	return call[admin.TLSReportsInfo](ctx, c, "SendTLSReports", r)
}
