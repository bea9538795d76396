// Umbrella header of the forecasting data layer (mmx::data); docs/data.md describes it.
#pragma once

#include "mmx/data/csv.h"
#include "mmx/data/error.h"
#include "mmx/data/forecast_data.h"
#include "mmx/data/forecast_source.h"
#include "mmx/data/registry.h"
#include "mmx/data/splits.h"
#include "mmx/data/timestamps.h"
#include "mmx/data/windows.h"
