#pragma once
// TokenId is part of the public API; internal code includes it from here.

#include "flux/token.hpp"
