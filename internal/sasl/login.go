package sasl

import "context"

// loginServer implements LOGIN (draft-murchison-sasl-login-00 §2): the
// server prompts "Username:" and "Password:", the client answers each.
type loginServer struct {
	ctx      context.Context
	opts     Options
	step     int // 0: nothing received; 1: username received; 2: finished
	username string
}

// Challenges of LOGIN (draft-murchison-sasl-login-00 §2.1); the protocol
// layer base64-encodes them.
var (
	loginUsername = []byte("Username:")
	loginPassword = []byte("Password:")
)

// Next implements Server.
func (s *loginServer) Next(response []byte) ([]byte, bool, error) {
	switch s.step {
	case 0:
		// The first call carries the initial response, which clients may use
		// for the username (draft §2.1); nil or empty means none.
		if len(response) == 0 {
			s.step = 1
			return loginUsername, false, nil
		}
		s.step = 1
		return s.takeUsername(response)
	case 1:
		if s.username == "" {
			return s.takeUsername(response)
		}
		s.step = 2
		if err := checkField("password", response, true); err != nil {
			return nil, false, err
		}
		return checkPassword(s.ctx, s.opts, s.username, string(response))
	default:
		return nil, false, errFinished
	}
}

// takeUsername records the username and asks for the password.
func (s *loginServer) takeUsername(response []byte) ([]byte, bool, error) {
	if err := checkField("username", response, true); err != nil {
		s.step = 2
		return nil, false, err
	}
	s.username = string(response)
	return loginPassword, false, nil
}
