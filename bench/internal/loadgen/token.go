package loadgen

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// BasicAuth is the Authorization header value for login and password.
func BasicAuth(login, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(login+":"+password))
}

// FetchToken logs in to base with basic (POST /api/v1/tokens/) for a
// token.
func FetchToken(ctx context.Context, base *url.URL, basic string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base.JoinPath("/api/v1/tokens/").String(), nil)
	if err != nil {
		return "", err
	}
	req.Header.Set("Authorization", basic)
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Do(req)
	if err != nil {
		return "", fmt.Errorf("token request: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	if err != nil {
		return "", fmt.Errorf("token request: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("token request: status %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	var reply struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(body, &reply); err != nil || reply.Token == "" {
		return "", fmt.Errorf("token request: no token in %q", body)
	}
	return reply.Token, nil
}
