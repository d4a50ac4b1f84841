"""The alerts service's own HTTP server: Twilio webhooks and the mobile page behind signed links."""
