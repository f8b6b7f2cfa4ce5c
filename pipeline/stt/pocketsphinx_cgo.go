//go:build cgo

package stt

/*
#cgo pkg-config: pocketsphinx sphinxbase
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <pocketsphinx.h>
#include <sphinxbase/err.h>

// att_last_error holds the last error sphinxbase logged on this thread.
static __thread char att_last_error[512];

// att_log replaces sphinxbase's logger, which writes every informational
// line to stderr: it keeps only the last error, for the calling thread.
static void att_log(void *user_data, err_lvl_t lvl, const char *fmt, ...) {
	(void)user_data;
	if (lvl < ERR_ERROR) {
		return;
	}
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(att_last_error, sizeof att_last_error, fmt, ap);
	va_end(ap);
}

// att_quiet installs att_log. It also sets the log file to none, since each
// decoder dumps its whole configuration straight to that file. This stands
// in for "-logfn /dev/null", which would make every ps_init reopen the
// process-wide log file.
static void att_quiet(void) {
	err_set_logfp(NULL);
	err_set_callback(att_log, NULL);
}

// att_new builds a decoder. cmd_ln_init is variadic, which cgo cannot
// call, hence this wrapper. On failure it returns NULL and copies the last
// error logged during the call into errbuf.
static ps_decoder_t *att_new(const char *hmm, const char *lm, const char *dict, char *errbuf, size_t errlen) {
	att_last_error[0] = '\0';
	ps_decoder_t *ps = NULL;
	cmd_ln_t *config = cmd_ln_init(NULL, ps_args(), TRUE,
		"-hmm", hmm, "-lm", lm, "-dict", dict, NULL);
	if (config != NULL) {
		ps = ps_init(config);
		cmd_ln_free_r(config); // the decoder keeps its own reference
	}
	if (ps == NULL) {
		snprintf(errbuf, errlen, "%s", att_last_error);
	}
	return ps;
}
*/
import "C"

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"unsafe"
)

// pocketsphinxChunk is how much audio is fed to the decoder between two
// checks of the context: 100 ms at SampleRate.
const pocketsphinxChunk = SampleRate / 10

var (
	// quietOnce installs the quiet logger before the first decoder is made.
	quietOnce sync.Once
	// createMu serializes decoder creation: sphinxbase keeps global state
	// (its logger among it), and creation is rare.
	createMu sync.Mutex
)

// decoder is one libpocketsphinx decoder. It must not be used by two
// goroutines at once.
type decoder struct {
	ps *C.ps_decoder_t
}

// newDecoder loads the models named in cfg into a new decoder.
func newDecoder(cfg PocketsphinxConfig) (*decoder, error) {
	quietOnce.Do(func() { C.att_quiet() })
	hmm, lm, dict := C.CString(cfg.ModelDir), C.CString(cfg.LM), C.CString(cfg.Dict)
	defer C.free(unsafe.Pointer(hmm))
	defer C.free(unsafe.Pointer(lm))
	defer C.free(unsafe.Pointer(dict))
	var errbuf [512]C.char

	createMu.Lock()
	ps := C.att_new(hmm, lm, dict, &errbuf[0], C.size_t(len(errbuf)))
	createMu.Unlock()
	if ps == nil {
		msg := strings.TrimSpace(C.GoString(&errbuf[0]))
		if msg == "" {
			msg = "no error logged"
		}
		return nil, fmt.Errorf("%w: pocketsphinx cannot load its models (acoustic model %s, language model %s, dictionary %s): %s",
			ErrProviderUnavailable, cfg.ModelDir, cfg.LM, cfg.Dict, msg)
	}
	return &decoder{ps: ps}, nil
}

// decode runs one utterance of SampleRate samples through the decoder in
// pocketsphinxChunk pieces, checking ctx between them, and returns the
// hypothesis. The utterance is always ended, so the decoder can be reused
// after an error.
func (d *decoder) decode(ctx context.Context, samples []int16) (string, error) {
	if rc := C.ps_start_utt(d.ps); rc < 0 {
		return "", fmt.Errorf("ps_start_utt failed (%d)", int(rc))
	}
	for start := 0; start < len(samples); start += pocketsphinxChunk {
		if err := ctx.Err(); err != nil {
			C.ps_end_utt(d.ps)
			return "", err
		}
		chunk := samples[start:min(start+pocketsphinxChunk, len(samples))]
		rc := C.ps_process_raw(d.ps, (*C.int16)(unsafe.Pointer(&chunk[0])), C.size_t(len(chunk)), 0, 0)
		if rc < 0 {
			C.ps_end_utt(d.ps)
			return "", fmt.Errorf("ps_process_raw failed (%d)", int(rc))
		}
	}
	if rc := C.ps_end_utt(d.ps); rc < 0 {
		return "", fmt.Errorf("ps_end_utt failed (%d)", int(rc))
	}
	var score C.int32
	hyp := C.ps_get_hyp(d.ps, &score)
	if hyp == nil {
		return "", nil
	}
	return strings.TrimSpace(C.GoString(hyp)), nil
}

// free releases the decoder's C memory. The decoder must not be used after.
func (d *decoder) free() {
	if d.ps != nil {
		C.ps_free(d.ps)
		d.ps = nil
	}
}
