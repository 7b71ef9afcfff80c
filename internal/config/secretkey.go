package config

import "github.com/yardmaster/yardmaster/internal/secretbox"

func checkSecretKey(s string) error {
	_, err := secretbox.ParseKey(s)
	return err
}
