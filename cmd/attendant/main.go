// Command attendant is Attendant's one binary; `attendant help` lists its subcommands.
package main

import (
	"os"

	"github.com/attendant/attendant/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
