package cli

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/jackc/pgx/v5"

	"github.com/attendant/attendant/internal/migrate"
)

func runMigrate(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("migrate", e)
	c, log, err := loadConfig(fs, e, args)
	if err != nil {
		return err
	}
	return applyMigrations(ctx, c.Database.URL, log)
}

// applyMigrations brings the database at url up to the newest schema.
func applyMigrations(ctx context.Context, url string, log *slog.Logger) error {
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return fmt.Errorf("database.url: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	applied, err := migrate.Up(ctx, conn)
	if err != nil {
		return err
	}
	log.Info("migrations applied", "applied", applied)
	return nil
}
