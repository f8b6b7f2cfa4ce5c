package cli

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/attendant/attendant/internal/migrate"
)

func runMigrate(ctx context.Context, e *env, args []string) error {
	fs := newFlagSet("migrate", e)
	c, log, err := loadConfig(fs, e, args)
	if err != nil {
		return err
	}
	conn, err := pgx.Connect(ctx, c.Database.URL)
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
