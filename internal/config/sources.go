package config

import (
	"flag"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// EnvPrefix starts the name of every environment variable Attendant reads.
const EnvPrefix = "ATTENDANT_"

// Overrides collects values given as flags, applied after the file and the environment.
type Overrides struct {
	path string
	sets []keyValue
}

type keyValue struct{ key, value string }

// RegisterFlags adds --config and one flag per configuration key (for example
// --worker.identity) to fs. The returned Overrides holds what was given once fs is parsed.
func RegisterFlags(fs *flag.FlagSet) *Overrides {
	o := &Overrides{}
	fs.StringVar(&o.path, "config", "", "YAML configuration file (see attendant.sample.yaml)")
	def := Default()
	for _, f := range leaves(&def) {
		key := f.key
		fs.Func(key, fmt.Sprintf("%s (env %s, default %q)", key, envName(key), f.String()), func(s string) error {
			o.sets = append(o.sets, keyValue{key, s})
			return nil
		})
	}
	return o
}

// Set records key=value as if it had been given as a flag.
func (o *Overrides) Set(key, value string) { o.sets = append(o.sets, keyValue{key, value}) }

// Load builds the configuration: defaults, then the file named by --config (if any),
// then the ATTENDANT_* variables in environ, then flags. It validates the result.
func Load(environ []string, o *Overrides) (Config, error) {
	c := Default()
	if o != nil && o.path != "" {
		if err := c.LoadFile(o.path); err != nil {
			return c, err
		}
	}
	if err := c.ApplyEnv(environ); err != nil {
		return c, err
	}
	if o != nil {
		for _, kv := range o.sets {
			if err := c.SetKey(kv.key, kv.value); err != nil {
				return c, fmt.Errorf("flag --%s: %w", kv.key, err)
			}
		}
	}
	return c, c.Validate()
}

// ApplyEnv applies ATTENDANT_* variables from environ (as os.Environ returns them).
// A variable with the prefix that names no key is an error, so typos do not pass silently.
func (c *Config) ApplyEnv(environ []string) error {
	byEnv := map[string]string{}
	for _, f := range leaves(c) {
		byEnv[envName(f.key)] = f.key
	}
	var unknown []string
	for _, kv := range environ {
		name, value, ok := strings.Cut(kv, "=")
		if !ok || !strings.HasPrefix(name, EnvPrefix) {
			continue
		}
		key, known := byEnv[name]
		if !known {
			unknown = append(unknown, name)
			continue
		}
		if err := c.SetKey(key, value); err != nil {
			return fmt.Errorf("environment %s: %w", name, err)
		}
	}
	if len(unknown) > 0 {
		sort.Strings(unknown)
		return fmt.Errorf("%w: unknown environment variables %s", ErrInvalid, strings.Join(unknown, ", "))
	}
	return nil
}

// SetKey sets the field named by its YAML key path, such as "worker.identity".
func (c *Config) SetKey(key, value string) error {
	for _, f := range leaves(c) {
		if f.key == key {
			return f.set(value)
		}
	}
	return fmt.Errorf("%w: unknown key %q", ErrInvalid, key)
}

// Keys lists every configuration key in declaration order.
func Keys() []string {
	c := Default()
	var keys []string
	for _, f := range leaves(&c) {
		keys = append(keys, f.key)
	}
	return keys
}

func envName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

type leaf struct {
	key string
	v   reflect.Value
}

func (f leaf) String() string {
	if d, ok := f.v.Interface().(time.Duration); ok {
		return d.String()
	}
	return fmt.Sprint(f.v.Interface())
}

func (f leaf) set(s string) error {
	switch f.v.Interface().(type) {
	case time.Duration:
		d, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%w: %s: %q is not a duration such as 500ms or 5s", ErrInvalid, f.key, s)
		}
		f.v.SetInt(int64(d))
		return nil
	}
	switch f.v.Kind() {
	case reflect.String:
		f.v.SetString(s)
	case reflect.Int:
		n, err := strconv.Atoi(s)
		if err != nil {
			return fmt.Errorf("%w: %s: %q is not a whole number", ErrInvalid, f.key, s)
		}
		f.v.SetInt(int64(n))
	case reflect.Float64:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("%w: %s: %q is not a number", ErrInvalid, f.key, s)
		}
		f.v.SetFloat(x)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%w: %s: %q is not true or false", ErrInvalid, f.key, s)
		}
		f.v.SetBool(b)
	default:
		return fmt.Errorf("%w: %s cannot be set from text", ErrInvalid, f.key)
	}
	return nil
}

// leaves walks the struct by its yaml tags and returns every settable scalar field.
func leaves(c *Config) []leaf {
	var out []leaf
	var walk func(prefix string, v reflect.Value)
	walk = func(prefix string, v reflect.Value) {
		t := v.Type()
		for i := range t.NumField() {
			name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
			if name == "" || name == "-" {
				continue
			}
			key := name
			if prefix != "" {
				key = prefix + "." + name
			}
			fv := v.Field(i)
			if fv.Kind() == reflect.Struct && fv.Type() != reflect.TypeFor[time.Duration]() {
				walk(key, fv)
				continue
			}
			out = append(out, leaf{key: key, v: fv})
		}
	}
	walk("", reflect.ValueOf(c).Elem())
	return out
}
