package controlplane

// Role is what an admin may reach.
type Role string

const (
	// RolePlatform reaches every entity.
	RolePlatform Role = "platform"
	// RoleEntity reaches one entity only.
	RoleEntity Role = "entity"
)

// Admin is a signed-in administrator.
type Admin struct {
	ID    int64
	Email string
	Name  string
	Role  Role
	// Entity is the one entity of an entity admin ("" for a platform admin).
	Entity string
}

// Reaches reports whether a may read and change entity's data. Every query the
// pages make for an entity's data checks it, not only the menus.
func (a Admin) Reaches(entity string) bool {
	return a.ID != 0 && (a.Role == RolePlatform || (a.Role == RoleEntity && a.Entity != "" && a.Entity == entity))
}

// audit is the start of an audit line for something a does.
func (a Admin) audit(action, entity, target, ip string) Audit {
	return Audit{AdminID: a.ID, Actor: a.Email, Entity: entity, Action: action, Target: target, IP: ip}
}
