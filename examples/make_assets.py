"""Regenerate the example images (acme-logo.png, acme-db-icon.png, screenshot.png).

The PNGs are checked in; run this only to change them:
``.venv/bin/python examples/make_assets.py``.
"""

from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

OUT = Path(__file__).resolve().parent
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
BLUE = (32, 86, 168)
ORANGE = (245, 146, 36)
WHITE = (255, 255, 255)
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
Box = tuple[int, int, int, int]


def font(size: int, bold: bool = False) -> Font:
    path = FONT_DIR / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")
    # Pillow's bundled font keeps the script working where DejaVu is not installed.
    return ImageFont.truetype(path, size) if path.exists() else ImageFont.load_default(size)


def centred(
    draw: ImageDraw.ImageDraw, box: Box, text: str, face: Font, fill: tuple[int, int, int]
) -> None:
    left, top, right, bottom = draw.textbbox((0, 0), text, font=face)
    x = box[0] + (box[2] - box[0] - (right - left)) / 2 - left
    y = box[1] + (box[3] - box[1] - (bottom - top)) / 2 - top
    draw.text((x, y), text, font=face, fill=fill)


def save(img: Image.Image, name: str) -> None:
    img = img.convert("P", palette=Image.Palette.ADAPTIVE, colors=64)
    img.save(OUT / name, optimize=True)


# logo 512x512: rounded square, a stylised "A" peak and the company name
logo = Image.new("RGB", (512, 512), WHITE)
d = ImageDraw.Draw(logo)
d.rounded_rectangle((16, 16, 496, 496), radius=72, fill=BLUE)
d.polygon([(256, 80), (400, 330), (112, 330)], fill=WHITE)
d.polygon([(256, 170), (330, 300), (182, 300)], fill=BLUE)
d.rectangle((150, 256, 362, 276), fill=ORANGE)
centred(d, (16, 340, 496, 460), "ACME", font(96, bold=True), WHITE)
save(logo, "acme-logo.png")

# icon 128x128: a database cylinder
icon = Image.new("RGB", (128, 128), WHITE)
d = ImageDraw.Draw(icon)
d.rounded_rectangle((4, 4, 124, 124), radius=20, fill=BLUE)
d.rectangle((34, 36, 94, 92), fill=WHITE)
for y in (36, 56, 74):
    d.ellipse((34, y - 10, 94, y + 10), fill=WHITE, outline=BLUE, width=3)
d.ellipse((34, 82, 94, 102), fill=WHITE)
d.arc((34, 82, 94, 102), 0, 180, fill=BLUE, width=3)
d.ellipse((34, 26, 94, 46), fill=ORANGE, outline=BLUE, width=3)
save(icon, "acme-db-icon.png")

# screenshot 1280x800: a console with a sidebar, a chart and a table
shot = Image.new("RGB", (1280, 800), (244, 246, 250))
d = ImageDraw.Draw(shot)
d.rectangle((0, 0, 1280, 64), fill=BLUE)
d.text((24, 16), "Acme DB Console", font=font(28, bold=True), fill=WHITE)
d.rectangle((0, 64, 240, 800), fill=(226, 231, 240))
small = font(20)
for i, item in enumerate(["Overview", "Databases", "Replication", "Backups", "Users", "Settings"]):
    if i == 0:
        d.rectangle((0, 88 + i * 48, 240, 128 + i * 48), fill=(200, 212, 232))
    d.text((28, 96 + i * 48), item, font=small, fill=(40, 40, 60))
d.rounded_rectangle((272, 96, 1248, 440), radius=12, fill=WHITE, outline=(210, 215, 225))
d.text((296, 112), "Queries per second", font=small, fill=(40, 40, 60))
bars = [120, 180, 150, 210, 260, 230, 280, 300, 270, 310, 290, 330, 350, 320, 360, 340]
for i, h in enumerate(bars):
    x = 312 + i * 58
    d.rectangle((x, 420 - h * 0.8, x + 36, 420), fill=BLUE if i % 4 else ORANGE)
d.rounded_rectangle((272, 472, 1248, 768), radius=12, fill=WHITE, outline=(210, 215, 225))
rows = [
    ("Database", "Size", "Replicas", "Status"),
    ("orders", "12.4 GB", "3", "healthy"),
    ("customers", "3.1 GB", "3", "healthy"),
    ("analytics", "48.0 GB", "2", "syncing"),
    ("sessions", "0.8 GB", "3", "healthy"),
]
for r, row in enumerate(rows):
    y = 492 + r * 52
    face = font(20, bold=True) if r == 0 else small
    for col, cell in enumerate(row):
        d.text((300 + col * 230, y), cell, font=face, fill=(40, 40, 60))
    if r:
        d.line((296, y - 10, 1224, y - 10), fill=(230, 232, 238))
save(shot, "screenshot.png")
