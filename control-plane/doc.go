// Package controlplane is Attendant's web control plane: admins sign in and
// configure entities, departments, knowledge documents, rooms and invitations;
// participants join meetings from magic links; LiveKit's webhooks start and end
// the rooms' assistant jobs on the dispatcher.
//
// Its state is in PostgreSQL (the schema is in internal/migrate) and Redis (admin
// sessions, login rate limits, invitation links). Its pages are rendered with
// html/template from the web package and enhanced with htmx; every form also works
// without JavaScript, and the server's validation is the authority.
package controlplane
