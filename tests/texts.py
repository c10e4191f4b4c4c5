"""The sentences several tests embed: a question, notes, a long sentence, two words."""

TEXTS = [
    "Where did I park the car at the airport?",
    "dentist appointment moved to thursday",
    "Gift ideas for Mara's birthday: a chef's knife or a cookbook about fermentation.",
    "wifi password",
    "The boiler service is booked for the second Monday of March, the engineer needs access to the loft.",
]
