#!/usr/bin/env python3
"""Writes data/examples/shop_sales.csv: four years of a made-up shop's daily figures, the file the
README's first example trains on. Deterministic (seeded); standard library only.

Columns: day (YYYY-MM-DD), store (text: left out as a variate), visitors, temperature (deg C),
promo (0/1), sales. Sales follow a trend, a weekly and a yearly cycle, promotions and the weather,
plus noise, so a forecaster has something to learn and something it cannot know.
"""
import datetime as dt
import math
import random
import sys
from pathlib import Path

def main(out: Path) -> None:
    rng = random.Random(20261205)
    start = dt.date(2021, 1, 1)
    rows = []
    promo_left = 0
    for i in range((dt.date(2025, 1, 1) - start).days):
        day = start + dt.timedelta(days=i)
        season = math.sin(2 * math.pi * (day.timetuple().tm_yday - 100) / 365.25)
        temperature = 11 + 9 * season + rng.gauss(0, 2.5)
        if promo_left == 0 and rng.random() < 0.04:
            promo_left = rng.randint(3, 7)
        promo = 1 if promo_left > 0 else 0
        promo_left = max(0, promo_left - 1)
        weekly = [0.85, 0.9, 0.95, 1.0, 1.15, 1.35, 0.8][day.weekday()]
        trend = 1 + 0.12 * i / 365.25
        visitors = 400 * weekly * trend * (1 + 0.25 * promo) * (1 + 0.01 * (temperature - 11)) * rng.lognormvariate(0, 0.08)
        sales = visitors * (23 + 4 * season) * (0.92 if promo else 1.0) * rng.lognormvariate(0, 0.05)
        rows.append(f"{day.isoformat()},north,{visitors:.0f},{temperature:.1f},{promo},{sales:.2f}")
    text = "day,store,visitors,temperature,promo,sales\n" + "\n".join(rows) + "\n"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text)

if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "data/examples/shop_sales.csv")
