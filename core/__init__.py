"""Bottom package: helpers every app may import (it imports no app)."""
