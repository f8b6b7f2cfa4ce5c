package bench

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
)

// calibrate measures how fast this machine is right now, for comparing runs: the
// CPU time of this process per loopback HTTP request (client and server both
// here), over n requests from 16 clients. Shared virtual machines change speed
// from one hour to the next; a run's figures are comparable with another's only
// as far as their calibrations agree.
func calibrate(ctx context.Context, n int) (usPerRequest float64, err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"id":"0123456789abcdef01234567","room":"room-000001","state":"pending"}`))
	})}
	go func() { _ = srv.Serve(ln) }()
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer client.CloseIdleConnections()
	url := "http://" + ln.Addr().String() + "/v1/jobs"
	body := []byte(`{"room":"room-000001","request_id":"r"}`)
	var next atomic.Int64
	var failed atomic.Value
	var wg sync.WaitGroup
	cpu0 := processCPU(os.Getpid())
	for range 16 {
		wg.Go(func() {
			for next.Add(1) <= int64(n) {
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
				if err == nil {
					var resp *http.Response
					if resp, err = client.Do(req); err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}
				if err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if err, ok := failed.Load().(error); ok {
		return 0, err
	}
	return round2(float64((processCPU(os.Getpid()) - cpu0).Microseconds()) / float64(n)), nil
}

// calibrationRequests is how many requests calibrate makes: about a second here.
const calibrationRequests = 20000
