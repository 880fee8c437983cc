package v1

import "esauth/lib/httpkit"

// Services are what the pages are made with (httpkit.Services).
type Services = httpkit.Services
