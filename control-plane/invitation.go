package controlplane

import "time"

// Invitation is a magic link for one person to one room, as the admin pages show
// it. The link's token and password are never stored in the clear: they are
// shown once, when the invitation is created, and sent to the invitee.
type Invitation struct {
	ID     int64
	Room   string
	Name   string
	Email  string
	Phone  string
	Status string // active, used or revoked
	// CreatedAt, ExpiresAt and the times it was used, revoked and sent (zero: not).
	CreatedAt, ExpiresAt      time.Time
	UsedAt, RevokedAt, SentAt time.Time
}

// InvitationSecret is what the invitee needs, known only when an invitation is
// created: the link and the 8-digit password, which travel in separate messages.
type InvitationSecret struct {
	Link     string
	Password string
}
